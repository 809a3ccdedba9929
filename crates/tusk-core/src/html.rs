//! Plain status text to the HTML Mastodon clients render: escaped, paragraphs for blank lines,
//! `<br />` for single newlines, http(s) links made clickable, and the mentions and hashtags
//! found (by the same parser that finds them when a status is posted) linked.

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A word of a status's text, as Mastodon's formatter sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Url(&'a str),
    /// `@username` or `@username@domain` (`raw` is what was written, without the `@`).
    Mention {
        username: &'a str,
        domain: Option<&'a str>,
        raw: &'a str,
    },
    /// `#name`.
    Hashtag(&'a str),
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The username at the start of `s` (Mastodon's `[a-z0-9_]+([a-z0-9_.-]+[a-z0-9_]+)?`): its
/// length in bytes.
fn username_len(s: &str) -> usize {
    let ascii_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut end = 0;
    for (i, c) in s.char_indices() {
        if ascii_word(c) {
            end = i + c.len_utf8();
        } else if !(c == '.' || c == '-') || end == 0 {
            break;
        }
    }
    end
}

/// The domain at the start of `s` (`[[:word:].-]+[[:word:]]+`): its length in bytes.
fn domain_len(s: &str) -> usize {
    let mut end = 0;
    for (i, c) in s.char_indices() {
        if is_word(c) {
            end = i + c.len_utf8();
        } else if c != '.' && c != '-' {
            break;
        }
    }
    if s[..end].contains('.') { end } else { 0 }
}

/// The hashtag name at the start of `s`: word characters with at least one that is not a digit.
fn hashtag_len(s: &str) -> usize {
    let end = s.char_indices().find(|(_, c)| !is_word(*c)).map_or(s.len(), |(i, _)| i);
    if s[..end].chars().any(|c| !c.is_numeric()) { end } else { 0 }
}

/// Splits one word (no whitespace) into text, mentions and hashtags. A mention or hashtag
/// starts at the word's start or after a character that is neither a word character, `=` nor
/// `/` (nor `)` for hashtags), as Mastodon's `MENTION_RE` and `HASHTAG_RE` have it.
fn pieces<'a>(word: &'a str, out: &mut Vec<Piece<'a>>) {
    if (word.starts_with("https://") || word.starts_with("http://")) && word.len() > 8 {
        out.push(Piece::Url(word));
        return;
    }
    let mut text_from = 0;
    let mut previous: Option<char> = None;
    let mut indices = word.char_indices().peekable();
    while let Some((i, c)) = indices.next() {
        let starts = previous.is_none_or(|p| !is_word(p) && p != '=' && p != '/');
        let rest = &word[i + c.len_utf8()..];
        let found = match c {
            '@' if starts => match username_len(rest) {
                0 => None,
                name => {
                    let domain = rest[name..].strip_prefix('@').map_or(0, domain_len);
                    let raw_len = if domain > 0 { name + 1 + domain } else { name };
                    let raw = &rest[..raw_len];
                    let domain = (domain > 0).then(|| &rest[name + 1..raw_len]);
                    Some((Piece::Mention { username: &rest[..name], domain, raw }, raw_len))
                }
            },
            '#' if starts && previous != Some(')') => match hashtag_len(rest) {
                0 => None,
                len => Some((Piece::Hashtag(&rest[..len]), len)),
            },
            _ => None,
        };
        match found {
            Some((piece, len)) => {
                if text_from < i {
                    out.push(Piece::Text(&word[text_from..i]));
                }
                out.push(piece);
                text_from = i + 1 + len;
                while indices.peek().is_some_and(|(j, _)| *j < text_from) {
                    indices.next();
                }
                previous = word[..text_from].chars().next_back();
            }
            None => previous = Some(c),
        }
    }
    if text_from < word.len() {
        out.push(Piece::Text(&word[text_from..]));
    }
}

fn all_pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        pieces(word, &mut out);
    }
    out
}

/// The accounts a text mentions, as `(username, domain)`, each once (case-insensitively), in
/// order of appearance.
pub fn mentions(text: &str) -> Vec<(String, Option<String>)> {
    let mut seen = std::collections::HashSet::new();
    all_pieces(text)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Mention { username, domain, .. } => Some((username, domain)),
            _ => None,
        })
        .filter(|(username, domain)| seen.insert((username.to_lowercase(), domain.map(str::to_lowercase))))
        .map(|(username, domain)| (username.to_owned(), domain.map(str::to_owned)))
        .collect()
}

/// The hashtags of a text, each once (case-insensitively, the first spelling kept).
pub fn hashtags(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    all_pieces(text)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Hashtag(name) => Some(name),
            _ => None,
        })
        .filter(|name| seen.insert(name.to_lowercase()))
        .map(str::to_owned)
        .collect()
}

/// What a status's links point at: the profile URL of each mentioned account that resolved
/// (by username, compared case-insensitively), and where hashtags link.
pub trait Links {
    /// The profile URL of a mention as written, `None` when it did not resolve to an account.
    fn mention(&self, username: &str, domain: Option<&str>) -> Option<String>;
    /// The URL of a hashtag's page.
    fn hashtag(&self, name: &str) -> String;
}

/// Plain text without links to accounts or hashtags.
pub struct NoLinks;

impl Links for NoLinks {
    fn mention(&self, _: &str, _: Option<&str>) -> Option<String> {
        None
    }

    fn hashtag(&self, _: &str) -> String {
        String::new()
    }
}

fn render_line(line: &str, links: &dyn Links, hashtags: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(line.len());
    for (n, word) in line.split(' ').enumerate() {
        if n > 0 {
            out.push(' ');
        }
        let mut parts = Vec::new();
        pieces(word, &mut parts);
        for part in parts {
            // writing to a String cannot fail
            let _ = match part {
                Piece::Text(text) => write!(out, "{}", escape(text)),
                Piece::Url(url) => {
                    let href = escape(url);
                    write!(
                        out,
                        "<a href=\"{href}\" target=\"_blank\" rel=\"nofollow noopener noreferrer\">{href}</a>"
                    )
                }
                Piece::Mention { username, domain, raw } => {
                    if let Some(url) = links.mention(username, domain) {
                        write!(
                            out,
                            "<span class=\"h-card\" translate=\"no\"><a href=\"{}\" class=\"u-url mention\">@<span>{}</span></a></span>",
                            escape(&url),
                            escape(username)
                        )
                    } else {
                        write!(out, "@{}", escape(raw))
                    }
                }
                Piece::Hashtag(name) if hashtags => write!(
                    out,
                    "<a href=\"{}\" class=\"mention hashtag\" rel=\"tag\">#<span>{}</span></a>",
                    escape(&links.hashtag(name)),
                    escape(name)
                ),
                Piece::Hashtag(name) => write!(out, "#{}", escape(name)),
            };
        }
    }
    out
}

/// A status's text as the HTML Mastodon clients render: escaped, paragraphs for blank lines,
/// `<br />` for single newlines, http(s) links made clickable; mentions that resolved and
/// hashtags linked as Mastodon's formatter links them.
pub fn status_to_html(text: &str, links: &dyn Links) -> String {
    to_html(text, links, true)
}

/// A profile's note: like a status, without hashtag links.
pub fn note_to_html(text: &str) -> String {
    to_html(text, &NoLinks, false)
}

fn to_html(text: &str, links: &dyn Links, hashtags: bool) -> String {
    let normalized = text.replace("\r\n", "\n");
    let mut html = String::with_capacity(normalized.len() + 16);
    for paragraph in normalized.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let lines: Vec<String> =
            paragraph.trim_matches('\n').split('\n').map(|line| render_line(line, links, hashtags)).collect();
        html.push_str("<p>");
        html.push_str(&lines.join("<br />"));
        html.push_str("</p>");
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_breaks_and_escaping() {
        assert_eq!(status_to_html("hi <b>&", &NoLinks), "<p>hi &lt;b&gt;&amp;</p>");
        assert_eq!(status_to_html("a\nb\n\nc", &NoLinks), "<p>a<br />b</p><p>c</p>");
    }

    struct Alice;

    impl Links for Alice {
        fn mention(&self, username: &str, domain: Option<&str>) -> Option<String> {
            (username.eq_ignore_ascii_case("alice") && domain.is_none_or(|d| d == "tusk.test"))
                .then(|| "https://tusk.test/@alice".to_owned())
        }

        fn hashtag(&self, name: &str) -> String {
            format!("https://tusk.test/tags/{name}")
        }
    }

    #[test]
    fn mentions_and_hashtags_are_found_as_mastodon_finds_them() {
        assert_eq!(
            mentions("hi @alice, @Bob@other.example and @alice@tusk.test! mail@x.org a=@c /@d (@eve.)"),
            vec![
                ("alice".to_owned(), None),
                ("Bob".to_owned(), Some("other.example".to_owned())),
                ("alice".to_owned(), Some("tusk.test".to_owned())),
                ("eve".to_owned(), None),
            ]
        );
        assert_eq!(hashtags("#Rust and #rust, #2022 x#no (#yes) #café_2"), vec!["Rust", "yes", "café_2"]);
        // multi-byte text around them
        assert_eq!(mentions("éé@alice é @bob"), vec![("bob".to_owned(), None)]);
        assert_eq!(status_to_html("été", &NoLinks), "<p>été</p>");
    }

    #[test]
    fn resolved_mentions_and_hashtags_are_linked() {
        assert_eq!(
            status_to_html("@alice: #Tusk @nobody <3", &Alice),
            "<p><span class=\"h-card\" translate=\"no\"><a href=\"https://tusk.test/@alice\" class=\"u-url mention\">@<span>alice</span></a></span>: \
             <a href=\"https://tusk.test/tags/Tusk\" class=\"mention hashtag\" rel=\"tag\">#<span>Tusk</span></a> @nobody &lt;3</p>"
        );
    }

    #[test]
    fn links() {
        assert_eq!(
            status_to_html("see https://x.org/?a=1&b", &NoLinks),
            "<p>see <a href=\"https://x.org/?a=1&amp;b\" target=\"_blank\" rel=\"nofollow noopener noreferrer\">https://x.org/?a=1&amp;b</a></p>"
        );
    }
}

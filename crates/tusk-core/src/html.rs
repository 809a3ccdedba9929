//! Plain status text to the HTML Mastodon clients render: escaped, paragraphs for blank lines,
//! `<br />` for single newlines, and http(s) links made clickable.

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

fn linkify(line: &str) -> String {
    line.split(' ')
        .map(|word| {
            if (word.starts_with("https://") || word.starts_with("http://")) && word.len() > 8 {
                let href = escape(word);
                format!(
                    "<a href=\"{href}\" target=\"_blank\" rel=\"nofollow noopener noreferrer\">{href}</a>"
                )
            } else {
                escape(word)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn status_to_html(text: &str) -> String {
    let normalized = text.replace("\r\n", "\n");
    let mut html = String::with_capacity(normalized.len() + 16);
    for paragraph in normalized.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let lines: Vec<String> = paragraph.trim_matches('\n').split('\n').map(linkify).collect();
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
        assert_eq!(status_to_html("hi <b>&"), "<p>hi &lt;b&gt;&amp;</p>");
        assert_eq!(status_to_html("a\nb\n\nc"), "<p>a<br />b</p><p>c</p>");
    }

    #[test]
    fn links() {
        assert_eq!(
            status_to_html("see https://x.org/?a=1&b"),
            "<p>see <a href=\"https://x.org/?a=1&amp;b\" target=\"_blank\" rel=\"nofollow noopener noreferrer\">https://x.org/?a=1&amp;b</a></p>"
        );
    }
}

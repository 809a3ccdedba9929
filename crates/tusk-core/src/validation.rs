//! Input becomes a validated type here, at the edge; inner code never re-checks it.
//! Messages and `ERR_*` codes follow Mastodon's `POST /api/v1/accounts` `details` format.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One failed rule on one field, as Mastodon reports it in `details`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub error: &'static str,
    pub description: String,
}

impl FieldError {
    pub fn blank() -> Self {
        Self { error: "ERR_BLANK", description: "can't be blank".into() }
    }
    pub fn invalid(description: &str) -> Self {
        Self { error: "ERR_INVALID", description: description.into() }
    }
    pub fn taken() -> Self {
        Self { error: "ERR_TAKEN", description: "has already been taken".into() }
    }
    pub fn reserved() -> Self {
        Self { error: "ERR_RESERVED", description: "is reserved".into() }
    }
    pub fn accepted() -> Self {
        Self { error: "ERR_ACCEPTED", description: "must be accepted".into() }
    }
    pub fn too_long(max: usize) -> Self {
        Self { error: "ERR_TOO_LONG", description: format!("is too long (maximum is {max} characters)") }
    }
    /// Mastodon's `NoteLengthValidator` message (URLs and mentions counted as in statuses).
    pub fn over_character_limit(max: usize) -> Self {
        Self { error: "ERR_TOO_LONG", description: format!("character limit of {max} exceeded") }
    }
    pub fn inclusion() -> Self {
        Self { error: "ERR_INCLUSION", description: "is not included in the list".into() }
    }
    pub fn too_short(min: usize) -> Self {
        Self { error: "ERR_TOO_SHORT", description: format!("is too short (minimum is {min} characters)") }
    }
}

/// All failed rules of one request, in the order the fields were checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    pub fields: Vec<(&'static str, FieldError)>,
}

impl ValidationErrors {
    pub fn add(&mut self, field: &'static str, error: FieldError) {
        self.fields.push((field, error));
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Keeps `Ok` values and records the error of an `Err`, so that every field gets checked.
    pub fn check<T>(&mut self, field: &'static str, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.add(field, e)).ok()
    }

    /// Mastodon's `details`: `{"username": [{"error": "ERR_TAKEN", "description": "..."}]}`.
    pub fn details(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        for (field, error) in &self.fields {
            let entry =
                map.entry((*field).to_owned()).or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(list) = entry {
                list.push(serde_json::json!(error));
            }
        }
        map
    }
}

impl fmt::Display for ValidationErrors {
    /// Rails' `full_messages`: "Validation failed: Username has already been taken, Password ...".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Validation failed: ")?;
        for (i, (field, error)) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            // Rails' `humanize`: "display_name" -> "Display name"
            let name = field.replace('_', " ");
            let mut name = name.chars();
            if let Some(first) = name.next() {
                write!(f, "{}{}", first.to_ascii_uppercase(), name.as_str())?;
            }
            write!(f, " {}", error.description)?;
        }
        Ok(())
    }
}

/// A local username: `[A-Za-z0-9_]{1,30}`, unique case-insensitively (the database enforces that).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Username(String);

impl Username {
    pub const MAX_LEN: usize = 30;
    /// Names a new account may not take: they would impersonate the instance's staff or routes.
    const RESERVED: &'static [&'static str] = &[
        "admin",
        "administrator",
        "root",
        "support",
        "help",
        "moderator",
        "mod",
        "staff",
        "webmaster",
        "postmaster",
        "hostmaster",
        "abuse",
        "security",
        "instance_actor",
        "mastodon",
        "tusk",
    ];

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() {
            return Err(FieldError::blank());
        }
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(FieldError::invalid("must contain only letters, numbers and underscores"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(FieldError::too_long(Self::MAX_LEN));
        }
        if Self::RESERVED.contains(&raw.to_ascii_lowercase().as_str()) {
            return Err(FieldError::reserved());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address: one `@`, a non-empty local part, a dotted domain, no spaces, at most 254 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(FieldError::blank());
        }
        let valid = raw.len() <= 254
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',')
            && raw.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(|label| !label.is_empty())
            });
        if valid { Ok(Self(raw.to_owned())) } else { Err(FieldError::invalid("is invalid")) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 8 to 72 characters (Mastodon's Devise `password_length`).
/// Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 72;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let len = raw.chars().count();
        if len == 0 {
            Err(FieldError::blank())
        } else if len < Self::MIN_LEN {
            Err(FieldError::too_short(Self::MIN_LEN))
        } else if len > Self::MAX_LEN {
            Err(FieldError::too_long(Self::MAX_LEN))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A profile's display name: at most 30 characters (Rails counts code points).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 30;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        if raw.chars().count() > Self::MAX_CHARS {
            Err(FieldError::too_long(Self::MAX_CHARS))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A profile's bio: at most 500 characters, counted as a status is counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note(String);

impl Note {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        if countable_length(raw) > Self::MAX_CHARS {
            Err(FieldError::over_character_limit(Self::MAX_CHARS))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's interface language: a BCP 47 tag of the short kind Mastodon lists (`en`, `pt-BR`,
/// `zh-Hant`); anything else is not in Mastodon's list of locales.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locale(String);

impl Locale {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let mut parts = raw.split(['-', '_']);
        let language = parts.next().unwrap_or_default();
        let valid_language =
            (2..=3).contains(&language.len()) && language.chars().all(|c| c.is_ascii_lowercase());
        let region = parts.next();
        let valid_region =
            region.is_none_or(|r| (2..=4).contains(&r.len()) && r.chars().all(|c| c.is_ascii_alphanumeric()));
        if valid_language && valid_region && parts.next().is_none() {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::inclusion())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text of a new status: not blank, at most 500 characters as Mastodon counts them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusText(String);

/// Why a status text was refused; the message is what Mastodon answers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatusTextError {
    #[error("Validation failed: Text can't be blank")]
    Blank,
    #[error("Validation failed: Text character limit of {} exceeded", StatusText::MAX_CHARS)]
    TooLong,
}

impl StatusText {
    /// The instance's `max_characters`.
    pub const MAX_CHARS: usize = 500;

    /// A status without a content warning.
    pub fn parse(raw: &str) -> Result<Self, StatusTextError> {
        Self::parse_with_spoiler(raw, "")
    }

    /// The text of a status whose content warning is `spoiler_text`: both count towards the
    /// limit, as in Mastodon's `StatusLengthValidator`.
    pub fn parse_with_spoiler(raw: &str, spoiler_text: &str) -> Result<Self, StatusTextError> {
        Self::parse_post(raw, spoiler_text, false)
    }

    /// The text of a post: it may be blank when the post has attachments, as in Mastodon.
    pub fn parse_post(raw: &str, spoiler_text: &str, with_media: bool) -> Result<Self, StatusTextError> {
        if raw.trim().is_empty() && !with_media {
            Err(StatusTextError::Blank)
        } else if countable_length(spoiler_text) + countable_length(raw) > Self::MAX_CHARS {
            Err(StatusTextError::TooLong)
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many characters `text` counts for against a limit, as Mastodon counts them: grapheme
/// clusters (an emoji ZWJ sequence or a letter with combining marks is one), each URL as 23
/// (`characters_reserved_per_url`), and a mention `@user@domain` as just `@user`.
pub fn countable_length(text: &str) -> usize {
    use unicode_segmentation::UnicodeSegmentation as _;
    countable_text(text).graphemes(true).count()
}

const URL_PLACEHOLDER: &str = "xxxxxxxxxxxxxxxxxxxxxxx";

/// `text` with every URL replaced by 23 placeholder characters and every remote mention cut
/// down to its username (Mastodon's `countable_text`).
fn countable_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous: Option<char> = None;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let after_word = previous.is_some_and(|p| p.is_alphanumeric() || p == '_');
        if !after_word && let Some(len) = url_len(rest) {
            out.push_str(URL_PLACEHOLDER);
            previous = rest[..len].chars().next_back();
            rest = &rest[len..];
            continue;
        }
        if c == '@'
            && !after_word
            && !matches!(previous, Some('=' | '/'))
            && let Some((username_len, total_len)) = mention_len(&rest[1..])
        {
            out.push('@');
            out.push_str(&rest[1..=username_len]);
            previous = rest[..=total_len].chars().next_back();
            rest = &rest[1 + total_len..];
            continue;
        }
        out.push(c);
        previous = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The byte length of the `http(s)://` URL at the start of `s`, trailing punctuation excluded
/// (a sentence may end right after a link).
fn url_len(s: &str) -> Option<usize> {
    let scheme = ["https://", "http://"]
        .into_iter()
        .find(|p| s.get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p)))?;
    let end = s.find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"')).unwrap_or(s.len());
    let mut url = &s[..end];
    loop {
        let trimmed = url.trim_end_matches(['.', ',', ':', ';', '!', '?', '\'', '"']);
        // a closing parenthesis belongs to the URL only if the URL opened one
        let trimmed = if trimmed.ends_with(')') && trimmed.matches('(').count() < trimmed.matches(')').count()
        {
            &trimmed[..trimmed.len() - 1]
        } else {
            trimmed
        };
        if trimmed.len() == url.len() {
            break;
        }
        url = trimmed;
    }
    let host = url[scheme.len()..].split(['/', '?', '#']).next().unwrap_or_default();
    let valid_host = !host.is_empty() && host.chars().any(char::is_alphanumeric);
    valid_host.then_some(url.len())
}

/// After an `@`: the byte lengths of the username and of the whole `user@domain` (Mastodon's
/// `MENTION_RE`: `[a-z0-9_]+([a-z0-9_.-]+[a-z0-9_]+)?`, then an optional `@domain`).
fn mention_len(s: &str) -> Option<(usize, usize)> {
    let username = trimmed_run(
        s,
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'),
        |c| c.is_ascii_alphanumeric() || c == '_',
    );
    if username == 0 {
        return None;
    }
    let domain = match s[username..].strip_prefix('@') {
        Some(after) => trimmed_run(
            after,
            |c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'),
            |c| c.is_alphanumeric() || c == '_',
        ),
        None => 0,
    };
    Some((username, if domain == 0 { username } else { username + 1 + domain }))
}

/// The byte length of the longest prefix of `s` made of `inner` characters that ends on an
/// `edge` character.
fn trimmed_run(s: &str, inner: impl Fn(char) -> bool, edge: impl Fn(char) -> bool) -> usize {
    let run = s.find(|c: char| !inner(c)).unwrap_or(s.len());
    s[..run].rfind(&edge).map_or(0, |i| i + s[i..].chars().next().map_or(0, char::len_utf8))
}

/// Who may see a status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    Public,
    Unlisted,
    Private,
    Direct,
}

impl Visibility {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "public" => Ok(Self::Public),
            "unlisted" => Ok(Self::Unlisted),
            "private" => Ok(Self::Private),
            "direct" => Ok(Self::Direct),
            other => Err(format!("'{other}' is not a valid visibility")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Unlisted => "unlisted",
            Self::Private => "private",
            Self::Direct => "direct",
        }
    }

    /// Whether followers get this status in their home feeds (direct goes to mentions only).
    pub fn reaches_followers(self) -> bool {
        !matches!(self, Self::Direct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("alice_99").is_ok());
        assert!(Username::parse(&"a".repeat(30)).is_ok());
        assert_eq!(Username::parse("").unwrap_err().error, "ERR_BLANK");
        assert_eq!(Username::parse(&"a".repeat(31)).unwrap_err().error, "ERR_TOO_LONG");
        assert_eq!(Username::parse("bob smith").unwrap_err().error, "ERR_INVALID");
        assert_eq!(Username::parse("bob-smith").unwrap_err().error, "ERR_INVALID");
        assert_eq!(Username::parse("bøb").unwrap_err().error, "ERR_INVALID");
        assert_eq!(Username::parse("Admin").unwrap_err().error, "ERR_RESERVED");
    }

    #[test]
    fn emails() {
        assert!(Email::parse("a@example.org").is_ok());
        assert_eq!(Email::parse(" a@example.org ").unwrap().as_str(), "a@example.org");
        for bad in
            ["a", "a@", "@example.org", "a@example", "a@@example.org", "a b@example.org", "a@example..org"]
        {
            assert_eq!(Email::parse(bad).unwrap_err().error, "ERR_INVALID", "{bad}");
        }
        assert_eq!(Email::parse("").unwrap_err().error, "ERR_BLANK");
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("12345678").is_ok());
        assert_eq!(Password::parse("1234567").unwrap_err().error, "ERR_TOO_SHORT");
        assert_eq!(Password::parse(&"x".repeat(73)).unwrap_err().error, "ERR_TOO_LONG");
        assert_eq!(format!("{:?}", Password::parse("hunter2hunter2").unwrap()), "Password(***)");
    }

    #[test]
    fn status_text() {
        assert!(StatusText::parse("hello").is_ok());
        assert!(StatusText::parse(&"é".repeat(500)).is_ok());
        assert_eq!(StatusText::parse("  \n"), Err(StatusTextError::Blank));
        assert_eq!(StatusText::parse(&"x".repeat(501)), Err(StatusTextError::TooLong));
        assert_eq!(
            StatusTextError::TooLong.to_string(),
            "Validation failed: Text character limit of 500 exceeded"
        );
    }

    #[test]
    fn length_counts_grapheme_clusters() {
        // a family emoji: 7 code points, one grapheme
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}";
        assert_eq!(countable_length(family), 1);
        assert!(StatusText::parse(&family.repeat(500)).is_ok());
        assert_eq!(StatusText::parse(&family.repeat(501)), Err(StatusTextError::TooLong));
        // e + combining acute, and a flag (two regional indicators)
        assert_eq!(countable_length("e\u{301}"), 1);
        assert_eq!(countable_length("\u{1F1EB}\u{1F1F7}"), 1);
        assert!(StatusText::parse(&"e\u{301}\u{302}".repeat(500)).is_ok());
    }

    #[test]
    fn urls_count_as_23() {
        let long = format!("https://example.org/{}", "a".repeat(300));
        assert_eq!(countable_length(&long), 23);
        assert_eq!(countable_length("see http://x.io."), "see ".len() + 23 + 1);
        assert_eq!(countable_length("(https://example.org/a_(b))"), 23 + 2);
        assert_eq!(countable_length("HTTPS://EXAMPLE.ORG/x?y=1#z"), 23);
        // not URLs: no scheme, no host, or glued to a word
        assert_eq!(countable_length("example.org/abc"), 15);
        assert_eq!(countable_length("https://"), 8);
        assert_eq!(countable_length("xhttps://a.b"), 12);
        // 20 long URLs are 460 characters, whatever their length
        let text = vec![long.as_str(); 20].join(" ");
        assert_eq!(countable_length(&text), 20 * 23 + 19);
        assert!(StatusText::parse(&text).is_ok());
    }

    #[test]
    fn mentions_count_their_username_only() {
        assert_eq!(countable_length("@alice@mastodon.social"), 6);
        assert_eq!(countable_length("hi @bob@a.example."), "hi @bob.".len());
        assert_eq!(countable_length("@alice"), 6);
        // an email address is not a mention
        assert_eq!(countable_length("me@example.org"), 14);
        let mention = format!("@alice@{}.example ", "d".repeat(200));
        assert!(StatusText::parse(&mention.repeat(60)).is_ok());
    }

    #[test]
    fn spoiler_text_counts_too() {
        let half = "x".repeat(250);
        assert!(StatusText::parse_with_spoiler(&half, &half).is_ok());
        assert_eq!(StatusText::parse_with_spoiler(&half, &format!("{half}y")), Err(StatusTextError::TooLong));
    }

    #[test]
    fn profile_fields() {
        assert_eq!(DisplayName::parse(&"é".repeat(30)).unwrap().as_str().chars().count(), 30);
        assert_eq!(DisplayName::parse(&"é".repeat(31)).unwrap_err().error, "ERR_TOO_LONG");
        assert_eq!(DisplayName::parse("").unwrap().as_str(), "");
        assert!(Note::parse(&"n".repeat(500)).is_ok());
        let too_long = Note::parse(&"n".repeat(501)).unwrap_err();
        assert_eq!(
            (too_long.error, too_long.description.as_str()),
            ("ERR_TOO_LONG", "character limit of 500 exceeded")
        );
        assert!(Note::parse(&format!("https://example.org/{}", "a".repeat(600))).is_ok());
    }

    #[test]
    fn locales() {
        for good in ["en", "pt-BR", "zh-Hant", "ast"] {
            assert!(Locale::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "e", "EN", "english", "en-", "en-US-x", "<script>"] {
            assert_eq!(Locale::parse(bad).unwrap_err().error, "ERR_INCLUSION", "{bad}");
        }
    }

    #[test]
    fn field_names_are_humanized() {
        let mut errors = ValidationErrors::default();
        errors.add("display_name", FieldError::too_long(30));
        assert_eq!(
            errors.to_string(),
            "Validation failed: Display name is too long (maximum is 30 characters)"
        );
    }

    #[test]
    fn visibility() {
        assert_eq!(Visibility::parse("private"), Ok(Visibility::Private));
        assert!(Visibility::parse("secret").is_err());
        assert!(!Visibility::Direct.reaches_followers());
    }

    #[test]
    fn errors_render_like_rails() {
        let mut errors = ValidationErrors::default();
        errors.add("username", FieldError::taken());
        errors.add("password", FieldError::too_short(8));
        assert_eq!(
            errors.to_string(),
            "Validation failed: Username has already been taken, Password is too short (minimum is 8 characters)"
        );
        let details = serde_json::Value::Object(errors.details());
        assert_eq!(details["username"][0]["error"], "ERR_TAKEN");
        assert_eq!(details["password"][0]["description"], "is too short (minimum is 8 characters)");
    }
}

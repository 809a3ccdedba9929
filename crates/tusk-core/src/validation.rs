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
            let mut name = field.chars();
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

/// The text of a new status: not blank, at most 500 characters.
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
    pub const MAX_CHARS: usize = 500;

    pub fn parse(raw: &str) -> Result<Self, StatusTextError> {
        if raw.trim().is_empty() {
            Err(StatusTextError::Blank)
        } else if raw.chars().count() > Self::MAX_CHARS {
            Err(StatusTextError::TooLong)
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
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

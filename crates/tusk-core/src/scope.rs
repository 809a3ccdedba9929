//! OAuth scopes as Mastodon defines them: top-level `read`, `write`, `follow`, `push`, `profile`
//! and their granular forms such as `write:statuses`.

use std::fmt;

/// One granular permission an endpoint asks for, e.g. `write:statuses`.
pub type Scope = &'static str;

const TOP_LEVEL: &[&str] = &["read", "write", "follow", "push", "profile", "crypto"];
const GRANULAR: &[&str] = &[
    "read:accounts",
    "read:blocks",
    "read:bookmarks",
    "read:favourites",
    "read:filters",
    "read:follows",
    "read:lists",
    "read:mutes",
    "read:notifications",
    "read:search",
    "read:statuses",
    "write:accounts",
    "write:blocks",
    "write:bookmarks",
    "write:conversations",
    "write:favourites",
    "write:filters",
    "write:follows",
    "write:lists",
    "write:media",
    "write:mutes",
    "write:notifications",
    "write:reports",
    "write:statuses",
];
/// The legacy `follow` scope covers these.
const FOLLOW_FAMILY: &[&str] =
    &["read:blocks", "write:blocks", "read:follows", "write:follows", "read:mutes", "write:mutes"];

/// A validated, space-separated scope list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses `"read write:statuses"`; an empty string means Mastodon's default, `read`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut scopes: Vec<String> = Vec::new();
        for scope in raw.split(|c: char| c.is_whitespace() || c == '+').filter(|s| !s.is_empty()) {
            if !TOP_LEVEL.contains(&scope) && !GRANULAR.contains(&scope) {
                return Err(format!("The requested scope is invalid, unknown, or malformed: {scope}"));
            }
            if !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
        if scopes.is_empty() {
            scopes.push("read".to_owned());
        }
        Ok(Self(scopes))
    }

    /// Whether a token holding these scopes may do what `required` stands for.
    pub fn allows(&self, required: Scope) -> bool {
        let parent = required.split_once(':').map(|(top, _)| top);
        self.0.iter().any(|held| {
            held == required
                || Some(held.as_str()) == parent
                || (held == "follow" && FOLLOW_FAMILY.contains(&required))
        })
    }

    /// Whether every scope in `other` is also in `self` (a token may not exceed its app's scopes).
    pub fn contains_all(&self, other: &Scopes) -> bool {
        other.0.iter().all(|s| self.0.contains(s) || self.allows_static(s))
    }

    fn allows_static(&self, scope: &str) -> bool {
        GRANULAR.iter().find(|g| **g == scope).is_some_and(|g| self.allows(g))
    }

    /// Every scope a client may ask for, top-level first (the metadata's `scopes_supported`).
    pub fn supported() -> impl Iterator<Item = &'static str> {
        TOP_LEVEL.iter().chain(GRANULAR).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_defaults_to_read() {
        assert_eq!(Scopes::parse("").unwrap().to_string(), "read");
        assert_eq!(Scopes::parse("read write follow").unwrap().to_string(), "read write follow");
        assert_eq!(Scopes::parse("read+write").unwrap().to_string(), "read write");
        assert!(Scopes::parse("read everything").is_err());
    }

    #[test]
    fn top_level_scopes_cover_their_granular_forms() {
        let scopes = Scopes::parse("write follow").unwrap();
        assert!(scopes.allows("write:statuses"));
        assert!(scopes.allows("write:follows"));
        assert!(scopes.allows("read:follows"));
        assert!(!scopes.allows("read:statuses"));
        let granular = Scopes::parse("read:statuses").unwrap();
        assert!(granular.allows("read:statuses"));
        assert!(!granular.allows("read:accounts"));
    }

    #[test]
    fn subset_check() {
        let app = Scopes::parse("read write").unwrap();
        assert!(app.contains_all(&Scopes::parse("read write:statuses").unwrap()));
        assert!(!app.contains_all(&Scopes::parse("follow").unwrap()));
    }
}

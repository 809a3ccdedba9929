//! OAuth scopes as Mastodon defines them: top-level `read`, `write`, `follow`, `push`, `profile`
//! and their granular forms such as `write:statuses`. A token's scope string is parsed once,
//! into [`Scopes`], when the token is resolved; routes name the [`Scope`] they need.

use std::fmt;

/// Declares the [`Scope`] enum with each variant's name as Mastodon spells it.
macro_rules! scopes {
    ($( $variant:ident = $name:literal ),+ $(,)?) => {
        /// One permission a token may hold or a route may need.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Scope {
            $( $variant, )+
        }

        impl Scope {
            /// Every scope, top-level first (the metadata's `scopes_supported`).
            pub const ALL: &'static [Self] = &[$( Self::$variant, )+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $name, )+
                }
            }
        }
    };
}

scopes! {
    Read = "read",
    Write = "write",
    Follow = "follow",
    Push = "push",
    Profile = "profile",
    Crypto = "crypto",
    ReadAccounts = "read:accounts",
    ReadBlocks = "read:blocks",
    ReadBookmarks = "read:bookmarks",
    ReadFavourites = "read:favourites",
    ReadFilters = "read:filters",
    ReadFollows = "read:follows",
    ReadLists = "read:lists",
    ReadMutes = "read:mutes",
    ReadNotifications = "read:notifications",
    ReadSearch = "read:search",
    ReadStatuses = "read:statuses",
    WriteAccounts = "write:accounts",
    WriteBlocks = "write:blocks",
    WriteBookmarks = "write:bookmarks",
    WriteConversations = "write:conversations",
    WriteFavourites = "write:favourites",
    WriteFilters = "write:filters",
    WriteFollows = "write:follows",
    WriteLists = "write:lists",
    WriteMedia = "write:media",
    WriteMutes = "write:mutes",
    WriteNotifications = "write:notifications",
    WriteReports = "write:reports",
    WriteStatuses = "write:statuses",
}

impl Scope {
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.as_str() == raw)
    }

    /// The top-level scope that covers this one (`write` for `write:statuses`).
    fn parent(self) -> Option<Self> {
        let (top, _) = self.as_str().split_once(':')?;
        Self::parse(top)
    }

    /// The legacy `follow` scope covers the relationship scopes.
    fn in_follow_family(self) -> bool {
        matches!(
            self,
            Self::ReadBlocks
                | Self::WriteBlocks
                | Self::ReadFollows
                | Self::WriteFollows
                | Self::ReadMutes
                | Self::WriteMutes
        )
    }

    /// What the scope allows, in words (the authorize page and the OpenAPI document show it).
    pub fn description(self) -> &'static str {
        match self {
            Self::Read => "Read all your account's data",
            Self::Write => "Modify all your account's data",
            Self::Follow => "Modify account relationships",
            Self::Push => "Receive your push notifications",
            Self::Profile => "Read only your account's profile information",
            Self::Crypto => "",
            s if s.as_str().starts_with("read:") => "Read part of your account's data",
            _ => "Modify part of your account's data",
        }
    }

    /// Whether holding `self` lets a token do what `required` stands for.
    pub fn covers(self, required: Self) -> bool {
        self == required
            || Some(self) == required.parent()
            || (self == Self::Follow && required.in_follow_family())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated, space-separated scope list, in the order given, without repeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// Parses `"read write:statuses"`; an empty string means Mastodon's default, `read`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut scopes: Vec<Scope> = Vec::new();
        for name in raw.split(|c: char| c.is_whitespace() || c == '+').filter(|s| !s.is_empty()) {
            let scope = Scope::parse(name)
                .ok_or_else(|| format!("The requested scope is invalid, unknown, or malformed: {name}"))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            scopes.push(Scope::Read);
        }
        Ok(Self(scopes))
    }

    /// Whether a token holding these scopes may do what `required` stands for.
    pub fn allows(&self, required: Scope) -> bool {
        self.0.iter().any(|held| held.covers(required))
    }

    /// Whether every scope in `other` is also allowed by `self` (a token may not exceed its
    /// app's scopes).
    pub fn contains_all(&self, other: &Scopes) -> bool {
        other.0.iter().all(|s| self.allows(*s))
    }

    /// Every scope a client may ask for, top-level first (the metadata's `scopes_supported`).
    pub fn supported() -> impl Iterator<Item = &'static str> {
        Scope::ALL.iter().map(|s| s.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&names.join(" "))
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
        assert_eq!(Scopes::parse("read read:statuses read").unwrap().to_string(), "read read:statuses");
        assert!(Scopes::parse("read everything").is_err());
    }

    #[test]
    fn every_scope_reads_back_as_itself() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(*scope));
        }
        assert_eq!(Scope::ALL.len(), 30);
        assert_eq!(Scope::parse("write:everything"), None);
    }

    #[test]
    fn top_level_scopes_cover_their_granular_forms() {
        let scopes = Scopes::parse("write follow").unwrap();
        assert!(scopes.allows(Scope::WriteStatuses));
        assert!(scopes.allows(Scope::WriteFollows));
        assert!(scopes.allows(Scope::ReadFollows));
        assert!(!scopes.allows(Scope::ReadStatuses));
        let granular = Scopes::parse("read:statuses").unwrap();
        assert!(granular.allows(Scope::ReadStatuses));
        assert!(!granular.allows(Scope::ReadAccounts));
        assert!(!granular.allows(Scope::Read));
    }

    #[test]
    fn subset_check() {
        let app = Scopes::parse("read write").unwrap();
        assert!(app.contains_all(&Scopes::parse("read write:statuses").unwrap()));
        assert!(!app.contains_all(&Scopes::parse("follow").unwrap()));
        // follow's family is covered by read and write together, not follow itself
        assert!(Scopes::parse("follow").unwrap().contains_all(&Scopes::parse("write:mutes").unwrap()));
    }
}

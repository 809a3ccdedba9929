//! Tusk's domain: ids, validated input types, events and the instance's identity. No I/O here.

pub mod event;
pub mod html;
pub mod id;
pub mod instance;
pub mod job;
pub mod notification;
pub mod pagination;
pub mod password;
pub mod scope;
pub mod token;
pub mod validation;

pub use event::{Event, ProfileImage};
pub use id::Id;
pub use instance::{Instance, Registrations};
pub use job::{FanoutBatch, FeedAction};
pub use notification::NotificationType;
pub use pagination::PageRange;
pub use password::password_hasher;
pub use scope::{Scope, Scopes};
pub use validation::{
    DisplayName, Email, FieldError, Locale, Note, Password, StatusText, Username, ValidationErrors,
    Visibility, countable_length,
};

/// Mastodon's `FeedManager::MAX_ITEMS`: how many entries a home feed keeps.
pub const HOME_FEED_MAX_ITEMS: usize = 800;

/// What a viewer did with a status: the flags of Mastodon's Status entity that depend on who
/// looks (`favourited`, `reblogged`, `bookmarked`, and `pinned` for its own statuses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interacted {
    pub favourited: bool,
    pub reblogged: bool,
    pub bookmarked: bool,
    pub pinned: bool,
}

impl Interacted {
    /// The flags in a fixed order, as the cache keeps them.
    pub const KINDS: [&'static str; 4] = ["f", "r", "b", "p"];

    pub fn flags(self) -> [bool; 4] {
        [self.favourited, self.reblogged, self.bookmarked, self.pinned]
    }

    pub fn from_flags([favourited, reblogged, bookmarked, pinned]: [bool; 4]) -> Self {
        Self { favourited, reblogged, bookmarked, pinned }
    }
}

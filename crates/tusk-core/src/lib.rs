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

pub use event::Event;
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

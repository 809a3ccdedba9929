//! The use-cases below the edges: what the client API, the workers (and, as it comes, the inbox)
//! ask of Tusk — sign-up, relationships, statuses and their favourites and reblogs, visibility,
//! timelines, tokens and OAuth, the instance's counts, the fan-out and the outbox relay — over
//! PostgreSQL
//! ([`tusk_store`]), Redis ([`tusk_cache`]) and RabbitMQ ([`tusk_queue`]: publishing the events
//! a write commits with). Returns plain data; the edges render it (Mastodon entities in
//! tusk-api).
//!
//! Every Redis read here degrades to PostgreSQL when Redis fails, and every cache is dropped or
//! replaced by the write that makes it stale.

mod accounts;
mod entities;
mod fanout;
mod instance;
mod kept;
mod media;
mod notifications;
mod oauth;
mod passwords;
mod publish;
mod ratelimits;
mod relationships;
mod search;
mod statuses;
mod streaming;
mod timelines;
mod tokens;
mod viewer;
mod visibility;

use std::sync::Arc;

use tusk_cache::{Cache, Decoder};
use tusk_core::{Registrations, ValidationErrors};
use tusk_queue::Publisher;
use tusk_store::{Store, StoreError};
use tusk_telemetry::Metrics;

pub use accounts::{AccountPage, CredentialAccount, NewAccount, NewProfile, PageCut};
pub use fanout::FanoutSettings;
pub use kept::KeptPage;
pub use media::{DESCRIPTION_LIMIT, MediaSettings, Upload};
pub use notifications::{GroupView, GroupedNotifications, NotificationView};
pub use oauth::{AppRegistration, CodeGrant};
pub use search::AccountQuery;
pub use statuses::NewPost;
pub use timelines::{AccountStatusesQuery, StatusView};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("record not found")]
    NotFound,
    /// Not allowed: another user's record, oneself as the target, closed registrations.
    #[error("this action is not allowed")]
    Forbidden,
    /// The input was read but breaks a rule; `details` by field.
    #[error("{0}")]
    Validation(ValidationErrors),
    /// The input breaks a rule that belongs to no one field.
    #[error("{0}")]
    Unprocessable(String),
    /// An upload over its size limit.
    #[error("{0}")]
    TooLarge(String),
    /// A dependency is down or overloaded: the caller should retry shortly.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// This replica is at its limit for the work (the password threads' line is full): retry
    /// shortly.
    #[error("{0}")]
    Overloaded(&'static str),
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    /// For causes that are bugs or impossible states.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::Unavailable(cause) => Self::Unavailable(cause.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<tusk_queue::QueueError> for ServiceError {
    fn from(error: tusk_queue::QueueError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<tusk_cache::CacheError> for ServiceError {
    fn from(error: tusk_cache::CacheError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// What the use-cases need besides their connections.
#[derive(Clone, Copy, Debug)]
pub struct ServiceSettings {
    /// How many argon2 hashes may run at once (`TUSK_PASSWORD_HASHERS`); a few more per thread
    /// wait in line and the rest are refused, so a sign-up flood cannot take every core from
    /// timeline reads.
    pub password_hashers: usize,
    /// Who may sign up (`TUSK_REGISTRATIONS`).
    pub registrations: Registrations,
    /// Whether notifications are written (`TUSK_NOTIFICATIONS`; off is an emergency switch,
    /// and the notifications benchmark's baseline).
    pub notifications: bool,
}

/// Rows of each kind kept decoded: the statuses and authors of a few thousand busy home pages.
const DECODED_ROWS: usize = 20_000;

/// The use-cases, with their connections; cheap to clone.
#[derive(Clone)]
pub struct Service(Arc<Inner>);

struct Inner {
    store: Store,
    cache: Cache,
    metrics: Metrics,
    /// Publishes the events a write committed to the outbox.
    publisher: Arc<Publisher>,
    passwords: passwords::PasswordHasher,
    registrations: Registrations,
    notifications: bool,
    media: MediaSettings,
    /// The instance's counts and when they were read (instance.rs).
    instance_stats: tokio::sync::Mutex<Option<(std::time::Instant, tusk_store::InstanceStats)>>,
    /// The statuses and accounts of pages, decoded from the entity cache (timelines.rs).
    decoded_statuses: Decoder<tusk_store::StatusRow>,
    decoded_accounts: Decoder<tusk_store::AccountRow>,
}

impl Service {
    pub fn new(
        settings: ServiceSettings,
        store: Store,
        cache: Cache,
        publisher: Arc<Publisher>,
        metrics: Metrics,
        media: MediaSettings,
    ) -> Self {
        let passwords = passwords::PasswordHasher::new(settings.password_hashers, &metrics);
        Self(Arc::new(Inner {
            store,
            cache,
            metrics,
            publisher,
            passwords,
            registrations: settings.registrations,
            notifications: settings.notifications,
            media,
            instance_stats: tokio::sync::Mutex::new(None),
            decoded_statuses: Decoder::new(DECODED_ROWS),
            decoded_accounts: Decoder::new(DECODED_ROWS),
        }))
    }

    /// Who may sign up.
    pub fn registrations(&self) -> Registrations {
        self.0.registrations
    }

    /// Whether notifications are written.
    pub fn notifications_enabled(&self) -> bool {
        self.0.notifications
    }

    fn store(&self) -> &Store {
        &self.0.store
    }

    fn cache(&self) -> &Cache {
        &self.0.cache
    }

    fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }
}

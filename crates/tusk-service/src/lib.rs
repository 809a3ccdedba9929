//! The use-cases below the edges: what the client API (and, as they grow, the workers and the
//! inbox) do, over PostgreSQL ([`tusk_store`]) and Redis ([`tusk_cache`]). Returns plain data;
//! the edges render it (Mastodon entities in tusk-api).
//!
//! Every Redis read here degrades to PostgreSQL when Redis fails, and every cache is dropped or
//! replaced by the write that makes it stale.

mod entities;
mod timelines;
mod tokens;
mod viewer;
mod visibility;

use std::sync::Arc;

use tusk_cache::Cache;
use tusk_store::{Store, StoreError};
use tusk_telemetry::Metrics;

pub use timelines::{AccountStatusesQuery, StatusView};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("record not found")]
    NotFound,
    /// A dependency is down or overloaded: the caller should retry shortly.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
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

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// The use-cases, with their connections; cheap to clone.
#[derive(Clone)]
pub struct Service(Arc<Inner>);

struct Inner {
    store: Store,
    cache: Cache,
    metrics: Metrics,
}

impl Service {
    pub fn new(store: Store, cache: Cache, metrics: Metrics) -> Self {
        Self(Arc::new(Inner { store, cache, metrics }))
    }

    fn store(&self) -> &Store {
        &self.0.store
    }

    fn cache(&self) -> &Cache {
        &self.0.cache
    }
}

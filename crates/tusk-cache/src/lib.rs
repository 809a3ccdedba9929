//! Redis: home feeds, the entity cache and what a reader's requests need (its token, who it
//! hides, which hybrid authors it pulls). Everything here can be lost and rebuilt from
//! PostgreSQL. Works on a single Redis and on a Redis Cluster: no command touches two keys.

mod connection;
mod entities;
mod feed;
mod keys;
mod near;
mod ratelimit;
mod stream;
mod viewer;

use std::sync::Arc;
use std::time::Duration;

use tusk_core::Id;

pub use connection::RedisConnection;
pub use entities::{Decoder, EntityKind, decode_entities};
pub use feed::Feed;
pub use keys::Keys;
pub use near::NearCacheCollector;
pub use ratelimit::RateWindow;
pub use stream::{StreamEvent, Timeline};
pub use viewer::{HomeContext, Interactions, Lookup, TokenEntry};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cache entry could not be encoded: {0}")]
    Encoding(#[from] serde_json::Error),
}

pub type Result<T, E = CacheError> = std::result::Result<T, E>;

/// A handle on Redis with this deployment's key prefix; cheap to clone.
#[derive(Clone)]
pub struct Cache {
    conn: RedisConnection,
    keys: Keys,
    feed_ttl: Duration,
    /// A node to subscribe on: on a cluster, PUBLISH reaches every node.
    pubsub: redis::Client,
    /// When this process last set each account's activity mark, so that within the mark's hour a
    /// warm home read sends Redis no write (see [`Cache::home_context`]).
    marked: Arc<quick_cache::sync::Cache<Id, std::time::Instant>>,
}

/// How many accounts' activity marks a process remembers (see `Cache::marked`); one it forgot
/// sets its mark again, which Redis answers as already set.
const MARKED_ACCOUNTS: usize = 100_000;

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("keys", &self.keys).finish_non_exhaustive()
    }
}

impl Cache {
    /// `url` is one `redis://` URL, or several separated by commas for a Redis Cluster.
    /// `feed_ttl`: how long a feed lives unread and unwritten (`TUSK_ACTIVE_DAYS`).
    pub async fn connect(url: &str, prefix: &str, feed_ttl: Duration) -> Result<Self> {
        let first = url.split(',').map(str::trim).find(|s| !s.is_empty()).unwrap_or(url);
        let pubsub = redis::Client::open(first)?;
        Ok(Self {
            conn: RedisConnection::open(url).await?,
            keys: Keys::new(prefix),
            feed_ttl,
            pubsub,
            marked: Arc::new(quick_cache::sync::Cache::new(MARKED_ACCOUNTS)),
        })
    }

    fn feed_ttl_secs(&self) -> i64 {
        self.feed_ttl.as_secs().max(1) as i64
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}

//! The near cache: the replies of the reads marked [`near`] are kept in the process and dropped
//! when Redis says their key changed (server-assisted client-side caching: RESP3 and
//! `CLIENT TRACKING ON OPTIN`, redis-rs's `cache-aio`), so a read whose keys did not change
//! since costs no round trip and no work in Redis: a warm home read, whose statuses, authors,
//! counts, feed page, token and interactions were all read a moment ago, sends Redis nothing.
//! Everything kept is dropped on a reconnect (the invalidations sent meanwhile were lost) and
//! on `FLUSHDB`/`FLUSHALL`.
//!
//! Marked: the entity reads (statuses, accounts, counts), a reader's token, home feed page,
//! hidden accounts, hybrid followees and interactions. Never marked: writes, rate-limit
//! counters, streaming.

use std::num::NonZeroUsize;
use std::time::Duration;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, Opts};
use redis::caching::{CacheConfig, CacheMode};
use redis::{Cmd, CommandCacheConfig};

use crate::RedisConnection;

/// At most this many keys are kept, least recently used out first.
const NEAR_CACHE_KEYS: NonZeroUsize = NonZeroUsize::new(100_000).unwrap();

/// How long a kept reply is used at most. Redis's invalidation is what keeps a reply fresh;
/// this bounds the one thing it misses: a write that lands between Redis sending a read's reply
/// and the reply being kept (the invalidation arrives first and finds nothing to drop).
const NEAR_CACHE_TTL: Duration = Duration::from_secs(30);

/// The connections' near cache: only the reads marked [`near`] go through it.
pub(crate) fn near_cache_config() -> CacheConfig {
    CacheConfig::new()
        .set_mode(CacheMode::OptIn)
        .set_size(NEAR_CACHE_KEYS)
        .set_default_client_ttl(NEAR_CACHE_TTL)
}

/// Marks a read for the near cache, its reply used at most [`NEAR_CACHE_TTL`].
pub(crate) fn near(mut cmd: Cmd) -> Cmd {
    cmd.set_cache_config(CommandCacheConfig::new());
    cmd
}

/// Marks a read for the near cache, its reply used at most `ttl` (shorter than the default).
pub(crate) fn near_for(mut cmd: Cmd, ttl: Duration) -> Cmd {
    cmd.set_cache_config(CommandCacheConfig::new().set_client_side_ttl(ttl));
    cmd
}

impl RedisConnection {
    /// The near cache's `(hits, misses, invalidated)` since the process started.
    fn near_cache_statistics(&self) -> (u64, u64, u64) {
        let statistics = match self {
            Self::Single(conn) => conn.get_cache_statistics(),
            Self::Cluster(conn) => conn.get_cache_statistics(),
        };
        statistics.map_or((0, 0, 0), |s| (s.hit as u64, s.miss as u64, s.invalidate as u64))
    }
}

/// `tusk_redis_near_cache_total{outcome}` read at each scrape: `hit` (answered in the process),
/// `miss` (asked Redis), `invalidated` (entries dropped: changed in Redis, expired or evicted).
pub struct NearCacheCollector {
    conn: RedisConnection,
    counters: IntCounterVec,
    /// One scrape at a time brings the counters up to the statistics.
    syncing: std::sync::Mutex<()>,
}

impl NearCacheCollector {
    pub fn new(cache: &crate::Cache) -> prometheus::Result<Self> {
        let counters = IntCounterVec::new(
            Opts::new(
                "tusk_redis_near_cache_total",
                "Reads through the process's near cache of Redis replies, by outcome (hit: no round trip; \
                 miss: asked Redis; invalidated: entries dropped as changed, expired or evicted)",
            ),
            &["outcome"],
        )?;
        Ok(Self { conn: cache.conn.clone(), counters, syncing: std::sync::Mutex::default() })
    }
}

impl Collector for NearCacheCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.counters.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _one_at_a_time = self.syncing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (hit, miss, invalidated) = self.conn.near_cache_statistics();
        for (outcome, value) in [("hit", hit), ("miss", miss), ("invalidated", invalidated)] {
            let counter = self.counters.with_label_values(&[outcome]);
            // the statistics only grow; the counter follows them
            counter.inc_by(value.saturating_sub(counter.get()));
        }
        self.counters.collect()
    }
}

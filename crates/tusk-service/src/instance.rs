//! The instance's counts, which every app reads when it starts: counted at most once a minute
//! per replica, by one request at a time, and the last counts kept when PostgreSQL does not
//! answer within a second, so that the instance endpoints always answer.

use std::time::{Duration, Instant};

use tusk_store::InstanceStats;

use crate::Service;

/// How long a replica keeps the counts, as Mastodon caches them: every app reads the instance
/// when it starts, and during a surge counting the users each time would cost more than serving.
const STATS_TTL: Duration = Duration::from_mins(1);
/// How long a request waits for fresh counts before answering with the last ones.
const STATS_WAIT: Duration = Duration::from_secs(1);

impl Service {
    /// The counts, at most [`STATS_TTL`] old, read by one request at a time. When PostgreSQL
    /// does not answer within [`STATS_WAIT`], the last counts known (zeros at first): the
    /// instance endpoints answer whatever happens, since apps read them first.
    pub async fn instance_stats(&self) -> InstanceStats {
        let mut cached = self.0.instance_stats.lock().await;
        if let Some((read_at, stats)) = *cached
            && read_at.elapsed() < STATS_TTL
        {
            return stats;
        }
        let fresh = tokio::time::timeout(STATS_WAIT, self.store().instance_stats())
            .await
            .map_err(|_| "no answer within a second".to_owned())
            .and_then(|counted| counted.map_err(|error| error.to_string()));
        let stats = fresh.unwrap_or_else(|error| {
            tracing::warn!(%error, "instance counts not refreshed; the last ones are shown");
            cached.map(|(_, stats)| stats).unwrap_or_default()
        });
        *cached = Some((Instant::now(), stats));
        stats
    }
}

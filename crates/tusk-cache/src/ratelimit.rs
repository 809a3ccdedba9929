//! Fixed-window counters for rate limits, shared by every api replica: one key per limit, per
//! subject and per window, `{prefix}ratelimit:{limit}:{period}:{subject}:{window}`. Each command touches
//! that one key, so a hit is a single-slot pipeline on a Redis Cluster too.

use redis::Cmd;

use crate::connection::Batch;
use crate::{Cache, Result};

/// One window of one limit for one subject (an IP, a token digest, an account id).
#[derive(Clone, Copy, Debug)]
pub struct RateWindow<'a> {
    /// The limit's name in the key (`signups`, `statuses`, …).
    pub limit: &'a str,
    /// The window's length, seconds.
    pub period: u64,
    pub subject: &'a str,
    /// Unix seconds at which the window ends (the key expires then, and a new window starts).
    pub ends_at: u64,
}

impl Cache {
    /// Counts one more request in `window` and returns the count so far, this one included:
    /// `INCR` + `EXPIREAT` (the same instant on every call, so no `NX` is needed), pipelined.
    pub async fn rate_hit(&self, window: RateWindow<'_>) -> Result<u64> {
        let key = self.keys.rate_limit(window.limit, window.period, window.subject, window.ends_at);
        let mut batch = Batch::default();
        batch.add(Cmd::incr(&key, 1));
        batch.add_ignored(expire_at(&key, window.ends_at));
        let (count,): (u64,) = batch.run(&self.conn).await?;
        Ok(count)
    }

    /// The count so far in `window`, without counting (limits recorded only on success).
    pub async fn rate_count(&self, window: RateWindow<'_>) -> Result<u64> {
        let key = self.keys.rate_limit(window.limit, window.period, window.subject, window.ends_at);
        let mut conn = self.conn.clone();
        let count: Option<u64> = Cmd::get(key).query_async(&mut conn).await?;
        Ok(count.unwrap_or(0))
    }
}

fn expire_at(key: &str, at: u64) -> Cmd {
    let mut cmd = redis::cmd("EXPIREAT");
    // a second past the window's end, so a clock a little behind Redis's never sees it vanish early
    cmd.arg(key).arg(at + 1);
    cmd
}

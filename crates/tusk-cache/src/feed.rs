//! Home feeds: one sorted set per account, score = member = status id, capped at 800 entries.
//!
//! A feed that is complete carries the member `0` (score 0) as its marker. Fan-out writes into a
//! key that was evicted or flushed re-create it without the marker, so a reader can tell a
//! complete feed from a partial one and rebuild it from PostgreSQL instead of showing half a page.
//!
//! Scores are doubles: ids above 2^53 round, so up to 32 neighbouring ids share a score. Ranges
//! are therefore read with inclusive bounds and a little slack, then cut exactly on the ids.

use redis::Pipeline;
use tusk_core::{HOME_FEED_MAX_ITEMS, Id, PageRange};

use crate::{Cache, Result};

const COMPLETE_MARKER: i64 = 0;
/// How many ids can share one rounded score (2^57 / 2^52).
const SCORE_SLACK: usize = 32;

fn score(id: Id) -> f64 {
    id.0 as f64
}

/// Adds `ids` to one feed and trims it to the newest 800 (the marker has the lowest rank, 0,
/// and is kept).
fn add_and_trim(pipe: &mut Pipeline, key: &str, ids: &[Id]) {
    if ids.is_empty() {
        return;
    }
    let members: Vec<(f64, i64)> = ids.iter().map(|id| (score(*id), id.0)).collect();
    pipe.zadd_multiple(key, &members).ignore();
    pipe.zremrangebyrank(key, 1, -(HOME_FEED_MAX_ITEMS as isize + 1))
        .ignore();
}

fn parse_ids(members: Vec<i64>) -> Vec<Id> {
    let mut ids: Vec<Id> = members
        .into_iter()
        .filter(|m| *m > COMPLETE_MARKER)
        .map(Id)
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

impl Cache {
    /// Writes one status into many feeds in one pipelined round trip (per node on a cluster).
    pub async fn insert_into_feeds(&self, owners: &[Id], status: Id) -> Result<()> {
        let mut pipe = redis::pipe();
        for owner in owners {
            add_and_trim(&mut pipe, &self.keys.home_feed(*owner), &[status]);
        }
        self.run(&pipe).await
    }

    /// Merges statuses into one feed (a new follow).
    pub async fn merge_into_feed(&self, owner: Id, statuses: &[Id]) -> Result<()> {
        let mut pipe = redis::pipe();
        add_and_trim(&mut pipe, &self.keys.home_feed(owner), statuses);
        self.run(&pipe).await
    }

    /// Removes statuses from one feed (an unfollow).
    pub async fn remove_from_feed(&self, owner: Id, statuses: &[Id]) -> Result<()> {
        if statuses.is_empty() {
            return Ok(());
        }
        let members: Vec<i64> = statuses.iter().map(|id| id.0).collect();
        let mut pipe = redis::pipe();
        pipe.zrem(self.keys.home_feed(owner), members).ignore();
        self.run(&pipe).await
    }

    /// Stores a feed rebuilt from PostgreSQL and marks it complete, in one command so that no
    /// reader sees the marker without the entries. Entries fan-out added meanwhile are kept.
    pub async fn store_rebuilt_feed(&self, owner: Id, statuses: &[Id]) -> Result<()> {
        let key = self.keys.home_feed(owner);
        let mut members: Vec<(f64, i64)> = statuses.iter().map(|id| (score(*id), id.0)).collect();
        members.push((0.0, COMPLETE_MARKER));
        let mut pipe = redis::pipe();
        pipe.zadd_multiple(&key, &members).ignore();
        pipe.zremrangebyrank(&key, 1, -(HOME_FEED_MAX_ITEMS as isize + 1))
            .ignore();
        self.run(&pipe).await
    }

    /// One page of a home feed, newest first, or `None` when the feed is missing or incomplete
    /// and has to be rebuilt.
    pub async fn home_feed_page(&self, owner: Id, range: &PageRange) -> Result<Option<Vec<Id>>> {
        let key = self.keys.home_feed(owner);
        let fetch = range.limit + SCORE_SLACK;
        let upper = range
            .max_id
            .map_or_else(|| "+inf".to_owned(), |id| score(id).to_string());
        // the marker (score 0) is never inside a page: the lower bound is exclusive of 0
        let lower = range
            .lower()
            .map_or_else(|| "(0".to_owned(), |id| score(id).to_string());
        let mut pipe = redis::pipe();
        pipe.zscore(&key, COMPLETE_MARKER);
        if range.from_bottom() {
            pipe.cmd("ZRANGE")
                .arg(&key)
                .arg(&lower)
                .arg(&upper)
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(fetch);
        } else {
            pipe.cmd("ZRANGE")
                .arg(&key)
                .arg(&upper)
                .arg(&lower)
                .arg("BYSCORE")
                .arg("REV")
                .arg("LIMIT")
                .arg(0)
                .arg(fetch);
        }
        let mut conn = self.conn.clone();
        let (marker, members): (Option<f64>, Vec<i64>) = pipe.query_async(&mut conn).await?;
        if marker.is_none() {
            return Ok(None);
        }
        Ok(Some(range.select(parse_ids(members))))
    }

    /// Every id in a feed, newest first (for tests and diagnostics).
    pub async fn home_feed_ids(&self, owner: Id) -> Result<Vec<Id>> {
        let mut conn = self.conn.clone();
        let members: Vec<i64> = redis::cmd("ZRANGE")
            .arg(self.keys.home_feed(owner))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await?;
        Ok(parse_ids(members))
    }

    /// Sends a pipeline of writes; an empty one (nothing to merge, say) is not sent at all.
    pub(crate) async fn run(&self, pipe: &Pipeline) -> Result<()> {
        if pipe.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_round_but_keep_order() {
        let a = Id((1_763_800_000_000 << 16) | 1);
        let b = Id((1_763_800_000_000 << 16) | 2);
        assert!(score(a) <= score(b));
        assert!(score(b) - score(a) < SCORE_SLACK as f64);
    }

    #[test]
    fn marker_is_dropped_and_ids_sorted() {
        assert_eq!(parse_ids(vec![0, 5, 9, 7]), vec![Id(9), Id(7), Id(5)]);
    }
}

//! Feeds: sorted sets of status ids, score = member = id, capped at 800 entries.
//! - a **home feed** per user: what the fan-out writes and the home timeline reads;
//! - an **account feed** per author: its own recent statuses, which the home timeline of its
//!   followers pulls at read time when the author is too big to push to every follower (hybrid).
//!
//! A complete feed carries the member `0` (score 0) as its marker. Fan-out writes into a key that
//! was evicted, flushed or expired re-create it without the marker, so a reader can tell a
//! complete feed from a partial one and rebuild it from PostgreSQL instead of showing half a page.
//! Rebuilds and reads set the key's TTL, so feeds of users who stopped coming expire.
//!
//! Scores are doubles: ids above 2^53 round, so up to 32 neighbouring ids share a score. Ranges
//! are therefore read with inclusive bounds and a little slack, then cut exactly on the ids.

use redis::Cmd;

use crate::connection::Batch;
use crate::near::near;
use tusk_core::{HOME_FEED_MAX_ITEMS, Id, PageRange};

use crate::{Cache, Result, StreamEvent, Timeline};

const COMPLETE_MARKER: i64 = 0;
/// How far from the top of a home feed a reblog's original is looked for (Mastodon: 40).
const REBLOG_WINDOW: isize = 40;
/// How many ids can share one rounded score (2^57 / 2^52).
const SCORE_SLACK: usize = 32;
/// Fan-out trims a feed on about one write in this many, which one chosen by a hash of the feed
/// and the status so that trims spread evenly. A feed then runs a few dozen entries over 800
/// before it is cut back, for half the Redis commands per delivery (and reads only ever look at
/// the top). Rebuilds and merges always trim.
const TRIM_EVERY: u64 = 8;

/// Which feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feed {
    Home(Id),
    Account(Id),
}

fn score(id: Id) -> f64 {
    id.0 as f64
}

/// Whether the fan-out write of `status` into `feed` trims it (about one in [`TRIM_EVERY`]).
fn trim_due(feed: Feed, status: Id) -> bool {
    let (Feed::Home(owner) | Feed::Account(owner)) = feed;
    // Fibonacci hashing: the top bits of the product depend on every bit of the input
    let mixed = (owner.0 ^ status.0).cast_unsigned().wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 32).is_multiple_of(TRIM_EVERY)
}

/// The replies of [`Cache::add_feed_page`]: the completeness marker's score, and the members.
pub(crate) type FeedPageReply = (Option<f64>, Vec<i64>);

/// One feed page from its replies: `None` when the feed is missing or incomplete.
pub(crate) fn feed_page((marker, members): FeedPageReply, range: &PageRange) -> Option<Vec<Id>> {
    marker.map(|_| range.select(parse_ids(members)))
}

fn parse_ids(members: Vec<i64>) -> Vec<Id> {
    let mut ids: Vec<Id> = members.into_iter().filter(|m| *m > COMPLETE_MARKER).map(Id).collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

impl Cache {
    fn feed_key(&self, feed: Feed) -> String {
        match feed {
            Feed::Home(owner) => self.keys.home_feed(owner),
            Feed::Account(author) => self.keys.account_feed(author),
        }
    }

    /// Adds `ids` (and the marker, if `complete`) to one feed and, if `trim`, trims it to the
    /// newest 800 (the marker has rank 0 and stays). A rebuild sets the TTL; a fan-out write does
    /// not, to keep it at one or two commands per feed (a reader's hourly activity mark renews its
    /// home feed's TTL, which outlives the activity window, so fan-out, which only writes to active
    /// users, finds the key with its TTL; an account feed lives its TTL and is rebuilt).
    fn add_and_trim(&self, batch: &mut Batch, key: &str, ids: &[Id], complete: bool, trim: bool) {
        let mut members: Vec<(f64, i64)> = ids.iter().map(|id| (score(*id), id.0)).collect();
        if complete {
            members.push((0.0, COMPLETE_MARKER));
        }
        if members.is_empty() {
            return;
        }
        batch.add_ignored(Cmd::zadd_multiple(key, &members));
        if trim {
            batch.add_ignored(Cmd::zremrangebyrank(key, 1, -(HOME_FEED_MAX_ITEMS as isize + 1)));
        }
        if complete {
            batch.add_ignored(Cmd::expire(key, self.feed_ttl_secs()));
        }
    }

    /// Writes one status into many feeds in one pipelined round trip (on a cluster, one pipeline
    /// per hash slot, sent concurrently), trimming each feed on one write in [`TRIM_EVERY`].
    /// `announce`: the streaming timelines told of it (see [`Cache::run_announcing`]).
    pub async fn insert_into_feeds(&self, feeds: &[Feed], status: Id, announce: &[Timeline]) -> Result<()> {
        let mut batch = Batch::default();
        for feed in feeds {
            self.add_and_trim(&mut batch, &self.feed_key(*feed), &[status], false, trim_due(*feed, status));
        }
        self.run_announcing(batch, announce, &[StreamEvent::Update { status_id: status }]).await
    }

    /// Writes a reblog into home feeds, Mastodon's way: not into a feed whose newest
    /// [`REBLOG_WINDOW`] entries already hold the original or another reblog of it. Two round
    /// trips: one to look, one to write. Returns the feeds written (and told, on their user
    /// streams).
    pub async fn insert_reblog_into_home_feeds(
        &self,
        owners: &[Id],
        reblog: Id,
        original: Id,
    ) -> Result<Vec<Id>> {
        if owners.is_empty() {
            return Ok(Vec::new());
        }
        let mut look = Batch::default();
        for owner in owners {
            look.add(Cmd::zrevrange(self.keys.home_feed(*owner), 0, REBLOG_WINDOW - 1));
            let mut reblogs = redis::cmd("ZRANGE");
            reblogs
                .arg(self.keys.home_reblogs(*owner))
                .arg(score(original))
                .arg(score(original))
                .arg("BYSCORE");
            look.add(reblogs);
        }
        let seen: Vec<(Vec<i64>, Vec<i64>)> = look.run(&self.conn).await?;
        let chosen: Vec<Id> = owners
            .iter()
            .zip(seen)
            .filter(|(_, (top, reblogs))| {
                !top.iter().any(|id| *id == original.0 || (*id != reblog.0 && reblogs.contains(id)))
            })
            .map(|(owner, _)| *owner)
            .collect();
        let mut write = Batch::default();
        for owner in &chosen {
            let feed = Feed::Home(*owner);
            self.add_and_trim(&mut write, &self.feed_key(feed), &[reblog], false, trim_due(feed, reblog));
            let reblogs = self.keys.home_reblogs(*owner);
            write.add_ignored(Cmd::zadd(&reblogs, reblog.0, score(original)));
            write.add_ignored(Cmd::zremrangebyrank(&reblogs, 0, -(HOME_FEED_MAX_ITEMS as isize + 1)));
            write.add_ignored(Cmd::expire(&reblogs, self.feed_ttl_secs()));
        }
        let timelines: Vec<Timeline> = chosen.iter().map(|owner| Timeline::User(*owner)).collect();
        self.run_announcing(write, &timelines, &[StreamEvent::Update { status_id: reblog }]).await?;
        Ok(chosen)
    }

    /// Takes statuses out of many feeds in one pipelined round trip.
    /// `announce`: the streaming timelines told of each deletion.
    pub async fn remove_from_feeds(
        &self,
        feeds: &[Feed],
        statuses: &[Id],
        announce: &[Timeline],
    ) -> Result<()> {
        if statuses.is_empty() {
            return Ok(());
        }
        let members: Vec<i64> = statuses.iter().map(|id| id.0).collect();
        let mut batch = Batch::default();
        for feed in feeds {
            batch.add_ignored(Cmd::zrem(self.feed_key(*feed), &members));
        }
        let deletions: Vec<StreamEvent> =
            statuses.iter().map(|status| StreamEvent::Delete { status_id: *status }).collect();
        self.run_announcing(batch, announce, &deletions).await
    }

    /// Merges statuses into one feed (a new follow).
    pub async fn merge_into_feed(&self, feed: Feed, statuses: &[Id]) -> Result<()> {
        let mut batch = Batch::default();
        self.add_and_trim(&mut batch, &self.feed_key(feed), statuses, false, true);
        self.run(batch).await
    }

    /// Stores a feed rebuilt from PostgreSQL and marks it complete, in one command so that no
    /// reader sees the marker without the entries. Entries fan-out added meanwhile are kept.
    pub async fn store_rebuilt_feed(&self, feed: Feed, statuses: &[Id]) -> Result<()> {
        let mut batch = Batch::default();
        self.add_and_trim(&mut batch, &self.feed_key(feed), statuses, true, true);
        self.run(batch).await
    }

    /// One page of each feed, newest first, in one round trip; `None` for a feed that is missing
    /// or incomplete and has to be rebuilt. Read through the near cache, so no read writes: a
    /// home feed's TTL is renewed with its reader's activity mark ([`Cache::home_context`]).
    pub async fn feed_pages(&self, feeds: &[Feed], range: &PageRange) -> Result<Vec<Option<Vec<Id>>>> {
        let mut batch = Batch::default();
        for feed in feeds {
            self.add_feed_page(&mut batch, *feed, range);
        }
        let replies: Vec<FeedPageReply> = batch.run(&self.conn).await?;
        Ok(replies.into_iter().map(|reply| feed_page(reply, range)).collect())
    }

    /// Adds the reading of one page of `feed` to `batch`: two replies, decoded by [`feed_page`].
    pub(crate) fn add_feed_page(&self, batch: &mut Batch, feed: Feed, range: &PageRange) {
        let fetch = range.limit + SCORE_SLACK;
        let upper = range.max_id.map_or_else(|| "+inf".to_owned(), |id| score(id).to_string());
        // the marker (score 0) is never inside a page: the lower bound is exclusive of 0
        let lower = range.lower().map_or_else(|| "(0".to_owned(), |id| score(id).to_string());
        let key = self.feed_key(feed);
        batch.add(near(Cmd::zscore(&key, COMPLETE_MARKER)));
        let mut range_cmd = redis::cmd("ZRANGE");
        if range.from_bottom() {
            range_cmd.arg(&key).arg(&lower).arg(&upper).arg("BYSCORE");
        } else {
            range_cmd.arg(&key).arg(&upper).arg(&lower).arg("BYSCORE").arg("REV");
        }
        range_cmd.arg("LIMIT").arg(0).arg(fetch);
        batch.add(near(range_cmd));
    }

    /// Every id in a feed, newest first (for tests and diagnostics).
    pub async fn feed_ids(&self, feed: Feed) -> Result<Vec<Id>> {
        let mut conn = self.conn.clone();
        let members: Vec<i64> =
            redis::cmd("ZRANGE").arg(self.feed_key(feed)).arg(0).arg(-1).query_async(&mut conn).await?;
        Ok(parse_ids(members))
    }

    /// Sends a batch of writes; an empty one (nothing to merge, say) is not sent at all.
    pub(crate) async fn run(&self, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let () = batch.run(&self.conn).await?;
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
    fn fan_out_trims_about_one_write_in_eight_and_never_skips_long() {
        // consecutive snowflake ids of one millisecond and of many, into one feed
        let owner = Feed::Home(Id(117_660_178_049_546_299));
        for step in [1_i64, 1 << 16, 7_919 << 16] {
            let statuses = (0..20_000_i64).map(|n| Id((1_763_800_000_000 << 16) + n * step));
            let due: Vec<bool> = statuses.map(|status| trim_due(owner, status)).collect();
            let trims = due.iter().filter(|d| **d).count();
            assert!((2_000..3_000).contains(&trims), "{trims} trims of 20000 (step {step})");
            let longest_run = due.split(|d| *d).map(<[bool]>::len).max().unwrap_or(0);
            assert!(longest_run < 120, "{longest_run} writes without a trim (step {step})");
        }
    }

    #[test]
    fn marker_is_dropped_and_ids_sorted() {
        assert_eq!(parse_ids(vec![0, 5, 9, 7]), vec![Id(9), Id(7), Id(5)]);
    }
}

//! The fan-out: what a committed event does to the feeds. A status goes into its author's own
//! feeds and streams, then to the followers: directly when they are fewer than one batch, else
//! as batch jobs of `batch` feeds that any number of workers share (each written in one
//! pipelined round trip). Deletions run through the same machinery; a follow merges the followed
//! account's recent statuses into the follower's home, an unfollow or a mute takes them out.
//! Every use-case here is idempotent: a redelivered event changes nothing the first run did not.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use futures_util::{Stream, TryStreamExt as _};
use tusk_cache::{Feed, Timeline};
use tusk_core::{FanoutBatch, FeedAction, HOME_FEED_MAX_ITEMS, Id, Visibility};

use crate::{Result, Service, ServiceError};

/// How a fan-out is cut and whom it reaches.
#[derive(Clone, Copy, Debug)]
pub struct FanoutSettings {
    /// Followers per batch job (`TUSK_FANOUT_BATCH`).
    pub batch: usize,
    /// Only users active this recently get write fan-out (`TUSK_ACTIVE_DAYS`).
    pub active_period: Duration,
    /// Authors with more followers than this are pulled at read time (`TUSK_HYBRID_THRESHOLD`).
    pub hybrid_threshold: i64,
}

/// Batch jobs of one plan awaiting their publisher confirm at once.
const PUBLISHES_IN_FLIGHT: usize = 16;

/// How many of a newly followed account's statuses enter the follower's feed (Mastodon merges
/// a quarter of the feed's size).
const MERGE_LIMIT: i64 = (HOME_FEED_MAX_ITEMS / 4) as i64;

/// Where the plan's keyset paging stands.
enum Cursor {
    /// A page read and not yet handed on.
    Page(Vec<Id>),
    /// Read the page after this follower id next.
    After(Id),
    Done,
}

impl Service {
    /// The fan-out of one status (`Insert` on creation, `Remove` on deletion) by `author`.
    pub async fn fan_out(
        &self,
        action: FeedAction,
        status_id: Id,
        author: Id,
        settings: &FanoutSettings,
    ) -> Result<()> {
        let own = [Feed::Home(author), Feed::Account(author)];
        let mut reblog_of = None;
        let reaches_followers = match action {
            FeedAction::Remove => {
                let everywhere = [Timeline::User(author), Timeline::Public, Timeline::PublicLocal];
                self.cache().remove_from_feeds(&own, &[status_id], &everywhere).await?;
                true
            }
            FeedAction::Insert => {
                let status = match self.store().status(status_id).await {
                    Ok(status) => status,
                    // deleted before it was delivered: the deletion's plan cleans up
                    Err(tusk_store::StoreError::NotFound) => return Ok(()),
                    Err(other) => return Err(other.into()),
                };
                let reaches_followers = status.visibility().reaches_followers();
                reblog_of = status.reblog_of_id;
                if let Some(original) = reblog_of {
                    // reblogs stay off the public streams, and follow the top-of-feed rule at home
                    self.cache().insert_reblog_into_home_feeds(&[author], status_id, original).await?;
                    if reaches_followers {
                        self.cache().insert_into_feeds(&own[1..], status_id, &[]).await?;
                    }
                } else {
                    let feeds = if reaches_followers { &own[..] } else { &own[..1] };
                    let mut timelines = vec![Timeline::User(author)];
                    if status.visibility() == Visibility::Public {
                        timelines.extend([Timeline::Public, Timeline::PublicLocal]);
                    }
                    self.cache().insert_into_feeds(feeds, status_id, &timelines).await?;
                }
                // the author's own home counts as a delivery like any follower's
                self.metrics().fanout_deliveries_total.inc();
                if status.visibility() == Visibility::Direct && !status.mentions.is_empty() {
                    // a direct status reaches the homes of the accounts it mentions
                    let feeds = status.mentions.iter().map(|m| m.id).filter(|id| *id != author).collect();
                    let batch = FanoutBatch { action, status_id, author_id: author, feeds, reblog_of: None };
                    self.deliver(&batch).await?;
                }
                reaches_followers && !self.switch_to_hybrid(author, settings.hybrid_threshold).await?
            }
        };
        if reaches_followers {
            let batch = |feeds| FanoutBatch { action, status_id, author_id: author, feeds, reblog_of };
            self.plan_batches(action, author, settings, batch).await?;
        }
        Ok(())
    }

    /// Marks the author hybrid (pulled at read time) when it has more followers than
    /// `threshold`, or pushed again when it fell below; true when the author is hybrid.
    async fn switch_to_hybrid(&self, author: Id, threshold: i64) -> Result<bool> {
        let followers = self.store().follower_count(author).await?;
        let hybrid = followers > threshold;
        self.store().set_hybrid(author, hybrid).await?;
        Ok(hybrid)
    }

    async fn plan_batches(
        &self,
        action: FeedAction,
        author: Id,
        settings: &FanoutSettings,
        batch: impl Fn(Vec<Id>) -> FanoutBatch,
    ) -> Result<()> {
        let size = settings.batch.max(1);
        // insertions go to active users only; a removal reaches everyone who may hold the status
        let active_since = match action {
            FeedAction::Insert => {
                chrono::Duration::from_std(settings.active_period).ok().map(|d| Utc::now() - d)
            }
            FeedAction::Remove => None,
        };
        let follower_page = move |after| async move {
            Ok::<_, ServiceError>(self.store().follower_page(author, after, active_since, size as i64).await?)
        };
        let batch = &batch;
        match plan(size, follower_page).await? {
            Plan::Direct(feeds) => self.deliver(&batch(feeds)).await,
            // Confirms of several batches are awaited at once, and the next page is read meanwhile,
            // so batch jobs start on other workers as soon as the first page is out. A retried plan
            // publishes its batches again, which is harmless: delivery is idempotent.
            Plan::Batches(pages) => {
                pages
                    .try_for_each_concurrent(PUBLISHES_IN_FLIGHT, |feeds| async move {
                        self.0.publisher.publish_batch(&batch(feeds)).await.map_err(ServiceError::from)
                    })
                    .await
            }
        }
    }

    /// Writes one status into (or out of) a batch of home feeds, one pipelined round trip.
    pub async fn deliver(&self, batch: &FanoutBatch) -> Result<()> {
        let feeds: Vec<Feed> = batch.feeds.iter().map(|id| Feed::Home(*id)).collect();
        let timelines: Vec<Timeline> = batch.feeds.iter().map(|id| Timeline::User(*id)).collect();
        match batch.action {
            FeedAction::Insert => {
                match batch.reblog_of {
                    Some(original) => {
                        self.cache()
                            .insert_reblog_into_home_feeds(&batch.feeds, batch.status_id, original)
                            .await?;
                    }
                    None => self.cache().insert_into_feeds(&feeds, batch.status_id, &timelines).await?,
                }
                self.metrics().fanout_deliveries_total.inc_by(feeds.len() as u64);
                let lag_ms = Utc::now().timestamp_millis() - batch.status_id.unix_ms();
                self.metrics().fanout_lag_seconds.observe(lag_ms.max(0) as f64 / 1000.0);
            }
            FeedAction::Remove => {
                self.cache().remove_from_feeds(&feeds, &[batch.status_id], &timelines).await?;
            }
        }
        Ok(())
    }

    /// A new follow: the followed account's recent statuses enter the follower's home feed.
    pub async fn merge_follow(&self, account: Id, target: Id) -> Result<()> {
        // events may be handled out of order: act on the follow as it stands now
        if !self.store().relationship(account, target).await?.feeds_home() {
            return Ok(());
        }
        let ids = self.store().recent_status_ids_for_followers(target, MERGE_LIMIT).await?;
        self.cache().merge_into_feed(Feed::Home(account), &ids).await?;
        Ok(())
    }

    /// An ended follow, or a mute: the account's statuses leave the home feed.
    pub async fn unmerge_follow(&self, account: Id, target: Id) -> Result<()> {
        if self.store().relationship(account, target).await?.feeds_home() {
            return Ok(());
        }
        // a feed holds at most 800 entries, so the target's newest 800 cover every one in it
        let ids = self.store().recent_status_ids_for_followers(target, HOME_FEED_MAX_ITEMS as i64).await?;
        self.cache().remove_from_feeds(&[Feed::Home(account)], &ids, &[]).await?;
        Ok(())
    }
}

/// How a plan delivers a status to the followers.
#[derive(Debug, PartialEq, Eq)]
enum Plan<Pages> {
    /// Fewer followers than one batch (maybe none): the plan job writes their feeds itself.
    Direct(Vec<Id>),
    /// Pages of one batch each (the last one may be shorter), each read when the stream is polled.
    Batches(Pages),
}

/// Plans a fan-out over the followers that `follower_page(after)` pages by keyset: up to `size`
/// follower ids above `after`, ascending. The first page is read at once, to choose between
/// direct delivery and batches.
async fn plan<F, Fut, E>(
    size: usize,
    follower_page: F,
) -> Result<Plan<impl Stream<Item = Result<Vec<Id>, E>>>, E>
where
    F: Fn(Option<Id>) -> Fut,
    Fut: Future<Output = Result<Vec<Id>, E>>,
{
    let first = follower_page(None).await?;
    if first.len() < size {
        return Ok(Plan::Direct(first));
    }
    let start = (Cursor::Page(first), follower_page);
    let pages = futures_util::stream::try_unfold(start, move |(cursor, follower_page)| async move {
        let feeds = match cursor {
            Cursor::Page(feeds) => feeds,
            Cursor::After(last) => follower_page(Some(last)).await?,
            Cursor::Done => return Ok(None),
        };
        let next = match feeds.last() {
            Some(last) if feeds.len() == size => Cursor::After(*last),
            _ => Cursor::Done,
        };
        Ok((!feeds.is_empty()).then_some((feeds, (next, follower_page))))
    });
    Ok(Plan::Batches(pages))
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::ops::RangeInclusive;
    use std::sync::Mutex;

    use futures_util::StreamExt as _;

    use super::*;

    const SIZE: usize = 4;

    fn ids(range: RangeInclusive<i64>) -> Vec<Id> {
        range.map(Id).collect()
    }

    /// What a plan over `count` followers (ids 1 to `count`) read and produced.
    struct Planned {
        plan: Plan<Vec<Vec<Id>>>,
        /// The `after` cursor of each page read, in order.
        reads: Vec<Option<Id>>,
        /// Reads done before the batches were consumed.
        reads_up_front: usize,
    }

    /// Plans over followers served as the store serves them: ascending, at most `SIZE` after the
    /// cursor.
    async fn plan_over(count: i64) -> Planned {
        let reads = Mutex::new(Vec::new());
        let follower_page = |after: Option<Id>| {
            reads.lock().unwrap().push(after);
            let first = after.map_or(1, |id| id.0 + 1);
            let page: Vec<Id> = (first..=count).take(SIZE).map(Id).collect();
            async move { Ok::<_, Infallible>(page) }
        };
        let plan = plan(SIZE, follower_page).await.unwrap();
        let reads_up_front = reads.lock().unwrap().len();
        let plan = match plan {
            Plan::Direct(feeds) => Plan::Direct(feeds),
            Plan::Batches(pages) => Plan::Batches(pages.try_collect().await.unwrap()),
        };
        let reads = reads.lock().unwrap().clone();
        Planned { plan, reads, reads_up_front }
    }

    #[tokio::test]
    async fn no_followers_is_a_direct_delivery_to_nobody() {
        let planned = plan_over(0).await;
        assert_eq!(planned.plan, Plan::Direct(vec![]));
        assert_eq!(planned.reads, [None]);
    }

    #[tokio::test]
    async fn a_single_small_page_is_delivered_by_the_plan_itself() {
        let planned = plan_over(2).await;
        assert_eq!(planned.plan, Plan::Direct(ids(1..=2)));
        assert_eq!(planned.reads, [None]);
    }

    #[tokio::test]
    async fn one_short_of_a_batch_is_delivered_by_the_plan_itself() {
        let planned = plan_over(SIZE as i64 - 1).await;
        assert_eq!(planned.plan, Plan::Direct(ids(1..=3)));
        assert_eq!(planned.reads, [None]);
    }

    #[tokio::test]
    async fn exactly_one_batch_is_a_batch_job_and_the_next_read_finds_nothing() {
        let planned = plan_over(SIZE as i64).await;
        assert_eq!(planned.plan, Plan::Batches(vec![ids(1..=4)]));
        assert_eq!(planned.reads, [None, Some(Id(4))]);
    }

    #[tokio::test]
    async fn one_past_a_batch_is_a_full_batch_and_a_batch_of_one() {
        let planned = plan_over(SIZE as i64 + 1).await;
        assert_eq!(planned.plan, Plan::Batches(vec![ids(1..=4), ids(5..=5)]));
        // a short page is the last: nothing is read after it
        assert_eq!(planned.reads, [None, Some(Id(4))]);
    }

    #[tokio::test]
    async fn exact_multiples_of_the_batch_are_full_batches_each_read_after_the_last_id() {
        let planned = plan_over(3 * SIZE as i64).await;
        assert_eq!(planned.plan, Plan::Batches(vec![ids(1..=4), ids(5..=8), ids(9..=12)]));
        assert_eq!(planned.reads, [None, Some(Id(4)), Some(Id(8)), Some(Id(12))]);
    }

    #[tokio::test]
    async fn pages_after_the_first_are_read_only_as_the_batches_are_taken() {
        let planned = plan_over(3 * SIZE as i64).await;
        assert_eq!(planned.reads_up_front, 1);
    }

    #[tokio::test]
    async fn a_failed_page_read_fails_the_plan_after_the_batches_before_it() {
        let follower_page = |after: Option<Id>| async move {
            match after {
                None => Ok(ids(1..=4)),
                Some(_) => Err("store down"),
            }
        };
        let Plan::Batches(pages) = plan(SIZE, follower_page).await.unwrap() else {
            panic!("a full first page plans batches");
        };
        let pages: Vec<_> = pages.collect().await;
        assert_eq!(pages, [Ok(ids(1..=4)), Err("store down")]);
    }
}

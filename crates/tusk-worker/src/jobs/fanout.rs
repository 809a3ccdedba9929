//! Two-stage fan-out. A plan job pages the author's followers by keyset and emits batch jobs of
//! `TUSK_FANOUT_BATCH` feeds to the deliver queue, where any number of workers share them; a
//! batch writes all its feeds in one pipelined round trip. A fan-out smaller than one batch is
//! written by the plan job itself (no second hop). Deletions run through the same machinery.

use std::future::Future;

use chrono::Utc;
use futures_util::{Stream, TryStreamExt as _};
use tusk_cache::{Feed, Timeline};
use tusk_core::{FanoutBatch, FeedAction, Id, Visibility};

use super::{Job, JobError};
use crate::Worker;

/// Batch jobs of one plan awaiting their publisher confirm at once.
const PUBLISHES_IN_FLIGHT: usize = 16;

/// Where the plan's keyset paging stands.
enum Cursor {
    /// A page read and not yet handed on.
    Page(Vec<Id>),
    /// Read the page after this follower id next.
    After(Id),
    Done,
}

/// Plans the fan-out of one status (insert on creation, remove on deletion).
pub(crate) struct PlanFanout {
    pub action: FeedAction,
    pub status_id: Id,
    pub author_id: Id,
}

impl Job for PlanFanout {
    const NAME: &'static str = "plan_fanout";

    async fn run(self, worker: &Worker) -> Result<(), JobError> {
        let own = [Feed::Home(self.author_id), Feed::Account(self.author_id)];
        let mut reblog_of = None;
        let reaches_followers = match self.action {
            FeedAction::Remove => {
                let everywhere = [Timeline::User(self.author_id), Timeline::Public, Timeline::PublicLocal];
                worker.cache.remove_from_feeds(&own, &[self.status_id], &everywhere).await?;
                true
            }
            FeedAction::Insert => {
                let status = match worker.store.status(self.status_id).await {
                    Ok(status) => status,
                    // deleted before it was delivered: the deletion's plan cleans up
                    Err(tusk_store::StoreError::NotFound) => return Ok(()),
                    Err(other) => return Err(other.into()),
                };
                let reaches_followers = status.visibility().reaches_followers();
                reblog_of = status.reblog_of_id;
                if let Some(original) = reblog_of {
                    // reblogs stay off the public streams, and follow the top-of-feed rule at home
                    worker
                        .cache
                        .insert_reblog_into_home_feeds(&[self.author_id], self.status_id, original)
                        .await?;
                    if reaches_followers {
                        worker.cache.insert_into_feeds(&own[1..], self.status_id, &[]).await?;
                    }
                } else {
                    let feeds = if reaches_followers { &own[..] } else { &own[..1] };
                    let mut timelines = vec![Timeline::User(self.author_id)];
                    if status.visibility() == Visibility::Public {
                        timelines.extend([Timeline::Public, Timeline::PublicLocal]);
                    }
                    worker.cache.insert_into_feeds(feeds, self.status_id, &timelines).await?;
                }
                // the author's own home counts as a delivery like any follower's
                worker.metrics.fanout_deliveries_total.inc();
                reaches_followers && !self.switch_to_hybrid(worker).await?
            }
        };
        if reaches_followers {
            self.plan_batches(worker, reblog_of).await?;
        }
        Ok(())
    }
}

impl PlanFanout {
    /// Marks the author hybrid (pulled at read time) when it has more followers than the
    /// threshold, or push again when it fell below; true when the author is hybrid.
    async fn switch_to_hybrid(&self, worker: &Worker) -> Result<bool, JobError> {
        let followers = worker.store.follower_count(self.author_id).await?;
        let hybrid = followers > worker.settings.hybrid_threshold;
        worker.store.set_hybrid(self.author_id, hybrid).await?;
        Ok(hybrid)
    }

    async fn plan_batches(&self, worker: &Worker, reblog_of: Option<Id>) -> Result<(), JobError> {
        let size = worker.settings.fanout_batch.max(1);
        // insertions go to active users only; a removal reaches everyone who may hold the status
        let active_since = match self.action {
            FeedAction::Insert => {
                chrono::Duration::from_std(worker.settings.active_period).ok().map(|d| Utc::now() - d)
            }
            FeedAction::Remove => None,
        };
        let author_id = self.author_id;
        let follower_page = move |after| async move {
            Ok::<_, JobError>(worker.store.follower_page(author_id, after, active_since, size as i64).await?)
        };
        match plan(size, follower_page).await? {
            Plan::Direct(feeds) => DeliverBatch(self.batch(feeds, reblog_of)).run(worker).await,
            // Confirms of several batches are awaited at once, and the next page is read meanwhile,
            // so batch jobs start on other workers as soon as the first page is out. A retried plan
            // publishes its batches again, which is harmless: delivery is idempotent.
            Plan::Batches(pages) => {
                pages
                    .try_for_each_concurrent(PUBLISHES_IN_FLIGHT, |feeds| async move {
                        Ok(worker.publisher.publish_batch(&self.batch(feeds, reblog_of)).await?)
                    })
                    .await
            }
        }
    }

    fn batch(&self, feeds: Vec<Id>, reblog_of: Option<Id>) -> FanoutBatch {
        FanoutBatch {
            action: self.action,
            status_id: self.status_id,
            author_id: self.author_id,
            feeds,
            reblog_of,
        }
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

/// Writes one status into (or out of) a batch of home feeds, one pipelined round trip.
pub(crate) struct DeliverBatch(pub FanoutBatch);

impl Job for DeliverBatch {
    const NAME: &'static str = "deliver_batch";

    async fn run(self, worker: &Worker) -> Result<(), JobError> {
        let batch = self.0;
        let feeds: Vec<Feed> = batch.feeds.iter().map(|id| Feed::Home(*id)).collect();
        let timelines: Vec<Timeline> = batch.feeds.iter().map(|id| Timeline::User(*id)).collect();
        match batch.action {
            FeedAction::Insert => {
                match batch.reblog_of {
                    Some(original) => {
                        worker
                            .cache
                            .insert_reblog_into_home_feeds(&batch.feeds, batch.status_id, original)
                            .await?;
                    }
                    None => worker.cache.insert_into_feeds(&feeds, batch.status_id, &timelines).await?,
                }
                worker.metrics.fanout_deliveries_total.inc_by(feeds.len() as u64);
                let lag_ms = Utc::now().timestamp_millis() - batch.status_id.unix_ms();
                worker.metrics.fanout_lag_seconds.observe(lag_ms.max(0) as f64 / 1000.0);
            }
            FeedAction::Remove => {
                worker.cache.remove_from_feeds(&feeds, &[batch.status_id], &timelines).await?;
            }
        }
        Ok(())
    }
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

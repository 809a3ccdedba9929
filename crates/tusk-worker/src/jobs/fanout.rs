//! Two-stage fan-out. A plan job pages the author's followers by keyset and emits batch jobs of
//! `TUSK_FANOUT_BATCH` feeds to the deliver queue, where any number of workers share them; a
//! batch writes all its feeds in one pipelined round trip. A fan-out smaller than one batch is
//! written by the plan job itself (no second hop). Deletions run through the same machinery.

use chrono::Utc;
use futures_util::TryStreamExt as _;
use lapin::types::FieldTable;
use tusk_cache::{Feed, Timeline};
use tusk_core::{FanoutBatch, FeedAction, Id, Visibility};

use super::{Job, JobError};
use crate::Worker;

/// Batch jobs of one plan awaiting their publisher confirm at once.
const PUBLISHES_IN_FLIGHT: usize = 16;

/// Where the plan's keyset paging stands.
enum Cursor {
    /// A page read and not yet published.
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
        let page = |after| worker.store.follower_page(self.author_id, Some(after), active_since, size as i64);
        let first = worker.store.follower_page(self.author_id, None, active_since, size as i64).await?;
        if first.len() < size {
            return DeliverBatch(self.batch(first, reblog_of)).run(worker).await;
        }
        // Pages are read one after the other (keyset), and each is published while the next one is
        // read, so batch jobs start on other workers as soon as the first page is out. Confirms of
        // several batches are awaited at once. A retried plan publishes its batches again, which
        // is harmless: delivery is idempotent.
        let pages = futures_util::stream::try_unfold(Cursor::Page(first), |cursor| async move {
            let feeds = match cursor {
                Cursor::Page(feeds) => feeds,
                Cursor::After(last) => page(last).await?,
                Cursor::Done => return Ok(None),
            };
            let next = match feeds.last() {
                Some(last) if feeds.len() == size => Cursor::After(*last),
                _ => Cursor::Done,
            };
            Ok::<_, JobError>((!feeds.is_empty()).then_some((feeds, next)))
        });
        pages
            .try_for_each_concurrent(PUBLISHES_IN_FLIGHT, |feeds| async move {
                let message = serde_json::to_vec(&self.batch(feeds, reblog_of))
                    .map_err(tusk_queue::QueueError::from)?;
                let queue = &worker.settings.topology.deliver_queue;
                worker.publisher.publish_to_queue(queue, &[(message, FieldTable::default())]).await?;
                Ok(())
            })
            .await
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

//! Two-stage fan-out. A plan job pages the author's followers by keyset and emits batch jobs of
//! `TUSK_FANOUT_BATCH` feeds to the deliver queue, where any number of workers share them; a
//! batch writes all its feeds in one pipelined round trip. A fan-out smaller than one batch is
//! written by the plan job itself (no second hop). Deletions run through the same machinery.

use chrono::Utc;
use lapin::types::FieldTable;
use tusk_cache::{Feed, Timeline};
use tusk_core::{FanoutBatch, FeedAction, Id, Visibility};

use super::{Job, JobError};
use crate::Worker;

/// Batch jobs published per confirm round trip.
const PUBLISH_GROUP: usize = 50;

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
                let feeds = if reaches_followers { &own[..] } else { &own[..1] };
                let mut timelines = vec![Timeline::User(self.author_id)];
                if status.visibility() == Visibility::Public {
                    timelines.extend([Timeline::Public, Timeline::PublicLocal]);
                }
                worker.cache.insert_into_feeds(feeds, self.status_id, &timelines).await?;
                // the author's own home counts as a delivery like any follower's
                worker.metrics.fanout_deliveries_total.inc();
                reaches_followers && !self.switch_to_hybrid(worker).await?
            }
        };
        if reaches_followers {
            self.plan_batches(worker).await?;
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

    async fn plan_batches(&self, worker: &Worker) -> Result<(), JobError> {
        let size = worker.settings.fanout_batch.max(1);
        // insertions go to active users only; a removal reaches everyone who may hold the status
        let active_since = match self.action {
            FeedAction::Insert => {
                chrono::Duration::from_std(worker.settings.active_period).ok().map(|d| Utc::now() - d)
            }
            FeedAction::Remove => None,
        };
        let page = |after| worker.store.follower_page(self.author_id, after, active_since, size as i64);
        let mut feeds = page(None).await?;
        if feeds.len() < size {
            return DeliverBatch(self.batch(feeds)).run(worker).await;
        }
        let mut pending = Vec::with_capacity(PUBLISH_GROUP);
        loop {
            let after = feeds.last().copied();
            let full = feeds.len() == size;
            if !feeds.is_empty() {
                pending.push((
                    serde_json::to_vec(&self.batch(feeds)).map_err(tusk_queue::QueueError::from)?,
                    FieldTable::default(),
                ));
            }
            if pending.len() == PUBLISH_GROUP || (!full && !pending.is_empty()) {
                worker.publisher.publish_to_queue(&worker.settings.topology.deliver_queue, &pending).await?;
                pending.clear();
            }
            if !full {
                return Ok(());
            }
            feeds = page(after).await?;
        }
    }

    fn batch(&self, feeds: Vec<Id>) -> FanoutBatch {
        FanoutBatch { action: self.action, status_id: self.status_id, author_id: self.author_id, feeds }
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
                worker.cache.insert_into_feeds(&feeds, batch.status_id, &timelines).await?;
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

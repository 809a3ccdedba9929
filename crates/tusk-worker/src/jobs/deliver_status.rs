use tusk_core::Id;

use super::{Job, JobError};
use crate::Worker;

/// How many feeds one Redis pipeline writes.
const FEEDS_PER_PIPELINE: usize = 1000;

/// Writes a new status into its author's home feed and each follower's.
pub(crate) struct DeliverStatus {
    pub status_id: Id,
    pub account_id: Id,
}

impl Job for DeliverStatus {
    const NAME: &'static str = "deliver_status";

    async fn run(self, worker: &Worker) -> Result<(), JobError> {
        let status = match worker.store.status(self.status_id).await {
            Ok(status) => status,
            // deleted before it was delivered: nothing to do
            Err(tusk_store::StoreError::NotFound) => return Ok(()),
            Err(other) => return Err(other.into()),
        };
        let mut owners = vec![self.account_id];
        if status.visibility().reaches_followers() {
            owners.extend(worker.store.follower_ids(self.account_id).await?);
        }
        for chunk in owners.chunks(FEEDS_PER_PIPELINE) {
            worker
                .cache
                .insert_into_feeds(chunk, self.status_id)
                .await?;
        }
        worker
            .metrics
            .fanout_deliveries_total
            .inc_by(owners.len() as u64);
        let lag_ms = chrono::Utc::now().timestamp_millis() - self.status_id.unix_ms();
        worker
            .metrics
            .fanout_lag_seconds
            .observe(lag_ms.max(0) as f64 / 1000.0);
        Ok(())
    }
}

//! Every job the worker runs, one per event type, registered in [`perform`].
//! Each job is idempotent: a redelivered message changes nothing the first run did not.

mod deliver_status;
mod merge_follow;

use std::time::Instant;

use tusk_core::Event;

use crate::Worker;

pub(crate) use deliver_status::DeliverStatus;
pub(crate) use merge_follow::{MergeFollow, UnmergeFollow};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] tusk_store::StoreError),
    #[error(transparent)]
    Cache(#[from] tusk_cache::CacheError),
}

/// A unit of work the worker runs for one event.
pub(crate) trait Job {
    /// The `job` label in metrics and logs.
    const NAME: &'static str;
    async fn run(self, worker: &Worker) -> Result<(), JobError>;
}

/// The job registry: which job handles which event. Records `tusk_jobs_total` and
/// `tusk_job_duration_seconds`.
pub(crate) async fn perform(worker: &Worker, event: Event) -> Result<(), JobError> {
    match event {
        Event::StatusCreated {
            status_id,
            account_id,
        } => {
            timed(
                worker,
                DeliverStatus {
                    status_id,
                    account_id,
                },
            )
            .await
        }
        Event::FollowCreated {
            account_id,
            target_account_id,
        } => {
            timed(
                worker,
                MergeFollow {
                    account_id,
                    target_account_id,
                },
            )
            .await
        }
        Event::FollowRemoved {
            account_id,
            target_account_id,
        } => {
            timed(
                worker,
                UnmergeFollow {
                    account_id,
                    target_account_id,
                },
            )
            .await
        }
    }
}

async fn timed<J: Job>(worker: &Worker, job: J) -> Result<(), JobError> {
    let started = Instant::now();
    let result = job.run(worker).await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    worker
        .metrics
        .jobs_total
        .with_label_values(&[J::NAME, outcome])
        .inc();
    worker
        .metrics
        .job_duration_seconds
        .with_label_values(&[J::NAME])
        .observe(started.elapsed().as_secs_f64());
    if let Err(error) = &result {
        tracing::warn!(job = J::NAME, %error, "job failed");
    }
    result
}

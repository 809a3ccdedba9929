//! Every job the worker runs, registered in [`perform`]: which message runs which job. A job
//! names its use-case in tusk-service (the fan-out, the follow merges), which does the work.
//! Each job is idempotent: a redelivered message changes nothing the first run did not.

use std::time::Instant;

use tracing::Instrument as _;
use tusk_core::{Event, FanoutBatch, FeedAction, Id, ProfileImage};
use tusk_queue::Message;
use tusk_telemetry::JobOutcome;

use crate::Worker;

/// Why a job failed (the message is then retried, and parked after its last try).
pub type JobError = tusk_service::ServiceError;

/// A unit of work the worker runs for one message.
pub(crate) trait Job {
    /// The `job` label in metrics and logs.
    const NAME: &'static str;
    async fn run(self, worker: &Worker) -> Result<(), JobError>;
}

/// Creates every job's series at zero, so that dashboards, rules and
/// autoscalers see them from the start rather than after the first failure.
pub(crate) fn init_series(metrics: &tusk_telemetry::Metrics) {
    let all = [
        PlanFanout::NAME,
        DeliverBatch::NAME,
        MergeFollow::NAME,
        UnmergeFollow::NAME,
        Notify::NAME,
        ProcessUpload::NAME,
        ProcessProfileImage::NAME,
    ];
    for job in all {
        for outcome in JobOutcome::ALL {
            metrics.jobs(job, *outcome);
        }
        metrics.job_duration_seconds.with_label_values(&[job]);
    }
    for kind in tusk_core::NotificationType::WRITTEN {
        metrics.notifications(kind.as_str());
    }
}

/// The job registry. Records `tusk_jobs_total` and `tusk_job_duration_seconds`.
pub(crate) async fn perform(worker: &Worker, message: Message) -> Result<(), JobError> {
    match message {
        Message::Event(Event::StatusCreated { status_id, account_id }) => {
            timed(worker, PlanFanout { action: FeedAction::Insert, status_id, author_id: account_id }).await
        }
        Message::Event(Event::StatusDeleted { status_id, account_id }) => {
            timed(worker, PlanFanout { action: FeedAction::Remove, status_id, author_id: account_id }).await
        }
        Message::Event(Event::FollowCreated { account_id, target_account_id, .. }) => {
            timed(worker, MergeFollow { account_id, target_account_id }).await
        }
        Message::Event(
            Event::FollowRemoved { account_id, target_account_id }
            | Event::AccountMuted { account_id, target_account_id },
        ) => timed(worker, UnmergeFollow { account_id, target_account_id }).await,
        Message::Batch(batch) => timed(worker, DeliverBatch(batch)).await,
        Message::Notify(event) => timed(worker, Notify(event)).await,
        Message::Media(Event::MediaUploaded { media_id, .. }) => timed(worker, ProcessUpload(media_id)).await,
        Message::Media(Event::ProfileImageUploaded { account_id, image, upload_key }) => {
            timed(worker, ProcessProfileImage { account_id, image, upload_key }).await
        }
        // the fan-out queue's `follow.*` binding brings requests too: nothing to fan out; and
        // nothing but uploads is bound to the media queue
        Message::Event(
            Event::FollowRequested { .. }
            | Event::Favourited { .. }
            | Event::Favourites { .. }
            | Event::MediaUploaded { .. }
            | Event::ProfileImageUploaded { .. },
        )
        | Message::Media(_) => Ok(()),
    }
}

/// Processes an attachment upload into its variants (the `media` queue).
struct ProcessUpload(Id);

impl Job for ProcessUpload {
    const NAME: &'static str = "process_upload";

    async fn run(self, worker: &Worker) -> Result<(), JobError> {
        worker.service.process_upload(self.0).await
    }
}

/// Processes a new avatar or header and puts it on the profile (the `media` queue).
struct ProcessProfileImage {
    account_id: Id,
    image: ProfileImage,
    upload_key: String,
}

impl Job for ProcessProfileImage {
    const NAME: &'static str = "process_profile_image";

    async fn run(self, worker: &Worker) -> Result<(), JobError> {
        worker.service.process_profile_image(self.account_id, self.image, &self.upload_key).await
    }
}

/// Writes the notifications an event makes, and announces them to listening streams.
struct Notify(Event);

impl Job for Notify {
    const NAME: &'static str = "notify";

    async fn run(self, worker: &Worker) -> Result<(), JobError> {
        worker.service.notify_for(&self.0).await
    }
}

/// Plans the fan-out of one status (insert on creation, remove on deletion).
struct PlanFanout {
    action: FeedAction,
    status_id: Id,
    author_id: Id,
}

impl Job for PlanFanout {
    const NAME: &'static str = "plan_fanout";

    async fn run(self, worker: &Worker) -> Result<(), JobError> {
        worker.service.fan_out(self.action, self.status_id, self.author_id, &worker.fanout).await
    }
}

/// Writes one status into (or out of) a batch of home feeds.
struct DeliverBatch(FanoutBatch);

impl Job for DeliverBatch {
    const NAME: &'static str = "deliver_batch";

    async fn run(self, worker: &Worker) -> Result<(), JobError> {
        worker.service.deliver(&self.0).await
    }
}

/// A new follow: the followed account's recent statuses enter the follower's home feed.
struct MergeFollow {
    account_id: Id,
    target_account_id: Id,
}

impl Job for MergeFollow {
    const NAME: &'static str = "merge_follow";

    async fn run(self, worker: &Worker) -> Result<(), JobError> {
        worker.service.merge_follow(self.account_id, self.target_account_id).await
    }
}

/// An ended follow, or a mute: the account's statuses leave the home feed.
struct UnmergeFollow {
    account_id: Id,
    target_account_id: Id,
}

impl Job for UnmergeFollow {
    const NAME: &'static str = "unmerge_follow";

    async fn run(self, worker: &Worker) -> Result<(), JobError> {
        worker.service.unmerge_follow(self.account_id, self.target_account_id).await
    }
}

async fn timed<J: Job>(worker: &Worker, job: J) -> Result<(), JobError> {
    let started = Instant::now();
    // one span per job, so that every log line of a job names it
    let result = job
        .run(worker)
        .instrument(tracing::info_span!("job", otel.name = format!("job {}", J::NAME), job = J::NAME))
        .await;
    let outcome = if result.is_ok() { JobOutcome::Ok } else { JobOutcome::Error };
    worker.metrics.jobs(J::NAME, outcome).inc();
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

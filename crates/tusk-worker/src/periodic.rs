//! The worker's periodic tasks, all listed in [`run`] with how often each runs.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tusk_queue::{Publisher, QueueDepth};

use crate::Worker;

/// How often expired `Idempotency-Key`s are deleted.
const EXPIRE_KEYS_EVERY: Duration = Duration::from_mins(1);
/// How often unattached uploads older than a day, and uploads stuck in processing, are swept.
const SWEEP_MEDIA_EVERY: Duration = Duration::from_mins(10);

/// Runs every periodic task until `shutdown` is cancelled.
pub(crate) async fn run(worker: Worker, shutdown: CancellationToken) {
    let settings = &worker.settings;
    let service = &worker.service;
    // the relay's own connection, so that a backlog never waits behind the batch jobs
    let relay = Publisher::new(&settings.amqp_url, "tusk-worker-relay", settings.topology.clone());
    let depth = QueueDepth::new(
        &settings.amqp_url,
        "tusk-worker-sampler",
        settings.topology.clone(),
        worker.metrics.clone(),
    );
    tokio::join!(
        every(settings.poll_interval, &shutdown, || service.relay_outbox(&relay, settings.relay_min_age)),
        every(EXPIRE_KEYS_EVERY, &shutdown, || service.expire_idempotency_keys()),
        every(settings.poll_interval, &shutdown, || depth.sample()),
        every(SWEEP_MEDIA_EVERY, &shutdown, || async {
            match service.sweep_media().await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "unattached media deleted"),
                Err(error) => tracing::warn!(%error, "media sweep failed"),
            }
        }),
    );
}

/// Runs `task` now and then `interval` after each run ends, until `shutdown` is cancelled.
async fn every<F, Fut>(interval: Duration, shutdown: &CancellationToken, task: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        task().await;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

//! The worker's periodic tasks, all listed in [`run`] with how often each runs.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tusk_queue::QueueDepth;

use crate::Worker;
use crate::relay::OutboxRelay;

/// How often expired `Idempotency-Key`s are deleted.
const EXPIRE_KEYS_EVERY: Duration = Duration::from_mins(1);

/// Runs every periodic task until `shutdown` is cancelled.
pub(crate) async fn run(worker: Worker, shutdown: CancellationToken) {
    let settings = &worker.settings;
    let relay = OutboxRelay::new(&worker);
    let depth = QueueDepth::new(
        &settings.amqp_url,
        "tusk-worker-sampler",
        settings.topology.clone(),
        worker.metrics.clone(),
    );
    tokio::join!(
        every(settings.poll_interval, &shutdown, || relay.relay_pending()),
        every(EXPIRE_KEYS_EVERY, &shutdown, || expire_idempotency_keys(&worker)),
        every(settings.poll_interval, &shutdown, || depth.sample()),
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

/// Deletes the `Idempotency-Key`s older than their hour.
async fn expire_idempotency_keys(worker: &Worker) {
    match worker.store.expire_idempotency_keys().await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(keys = n, "expired Idempotency-Keys deleted"),
        Err(error) => tracing::warn!(%error, "expired Idempotency-Keys not deleted"),
    }
}

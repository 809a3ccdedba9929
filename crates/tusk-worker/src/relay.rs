//! The outbox relay: publishes events that the api committed but could not publish (RabbitMQ
//! down, api crashed after commit). Any number of workers may relay side by side. Once a minute
//! it also deletes the `Idempotency-Key`s older than their hour.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tusk_queue::Publisher;

use crate::Worker;

/// Events taken per transaction.
const BATCH: i64 = 500;

/// How often expired `Idempotency-Key`s are deleted.
const EXPIRE_KEYS_EVERY: Duration = Duration::from_mins(1);

pub(crate) async fn run(worker: Worker, shutdown: CancellationToken) {
    let publisher =
        Publisher::new(&worker.settings.amqp_url, "tusk-worker-relay", worker.settings.topology.clone());
    let mut keys_expired_at = Instant::now();
    loop {
        relay_pending(&worker, &publisher).await;
        if keys_expired_at.elapsed() >= EXPIRE_KEYS_EVERY {
            keys_expired_at = Instant::now();
            expire_idempotency_keys(&worker).await;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(worker.settings.poll_interval) => {}
        }
    }
}

async fn relay_pending(worker: &Worker, publisher: &Publisher) {
    let min_age = worker.settings.relay_min_age.as_secs_f64();
    loop {
        let relayed = worker
            .store
            .outbox_relay(min_age, BATCH, |event| async move {
                publisher.publish(&event).await.map_err(RelayError::Queue)
            })
            .await;
        match relayed {
            Ok(n) => {
                worker.metrics.outbox_published_total.with_label_values(&["relay"]).inc_by(n as u64);
                if n > 0 {
                    tracing::info!(events = n, "relayed outbox events");
                }
                if n < BATCH as usize {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "outbox relay paused");
                break;
            }
        }
    }
    match worker.store.outbox_pending().await {
        Ok(pending) => worker.metrics.outbox_pending.set(pending),
        Err(error) => tracing::warn!(%error, "outbox size not sampled"),
    }
}

async fn expire_idempotency_keys(worker: &Worker) {
    match worker.store.expire_idempotency_keys().await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(keys = n, "expired Idempotency-Keys deleted"),
        Err(error) => tracing::warn!(%error, "expired Idempotency-Keys not deleted"),
    }
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Store(#[from] tusk_store::StoreError),
    #[error(transparent)]
    Queue(tusk_queue::QueueError),
}

//! The outbox relay: publishes events that the api committed but could not publish (RabbitMQ
//! down, api crashed after commit). Any number of workers may relay side by side.

use tokio_util::sync::CancellationToken;
use tusk_queue::Publisher;

use crate::Worker;

/// Events taken per transaction.
const BATCH: i64 = 500;

pub(crate) async fn run(worker: Worker, shutdown: CancellationToken) {
    let publisher =
        Publisher::new(&worker.settings.amqp_url, "tusk-worker-relay", worker.settings.topology.clone());
    loop {
        relay_pending(&worker, &publisher).await;
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

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Store(#[from] tusk_store::StoreError),
    #[error(transparent)]
    Queue(tusk_queue::QueueError),
}

//! The outbox relay: publishes events that the api committed but could not publish (RabbitMQ
//! down, api crashed after commit). Any number of workers may relay side by side.

use tusk_queue::Publisher;
use tusk_telemetry::OutboxPublisher;

use crate::Worker;

/// Events taken per transaction.
const BATCH: i64 = 500;

pub(crate) struct OutboxRelay<'a> {
    worker: &'a Worker,
    publisher: Publisher,
}

impl<'a> OutboxRelay<'a> {
    pub(crate) fn new(worker: &'a Worker) -> Self {
        let settings = &worker.settings;
        let publisher = Publisher::new(&settings.amqp_url, "tusk-worker-relay", settings.topology.clone());
        Self { worker, publisher }
    }

    /// Publishes every pending event old enough, a batch per transaction, then samples how many
    /// are left.
    pub(crate) async fn relay_pending(&self) {
        let worker = self.worker;
        let publisher = &self.publisher;
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
                    worker.metrics.outbox_published(OutboxPublisher::Relay).inc_by(n as u64);
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
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Store(#[from] tusk_store::StoreError),
    #[error(transparent)]
    Queue(tusk_queue::QueueError),
}

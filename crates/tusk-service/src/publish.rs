use std::time::Duration;

use tusk_queue::Publisher;
use tusk_store::OutboxEntry;
use tusk_telemetry::OutboxPublisher;

use crate::Service;

/// Events the relay takes per transaction.
const RELAY_BATCH: i64 = 500;

impl Service {
    /// Publishes an event whose outbox row is already committed, then deletes the row. Never
    /// fails the request: an event the broker did not confirm stays in the outbox, and the
    /// worker's relay publishes it later. A [deferred](tusk_core::Event::deferred) event is
    /// left to the relay.
    pub async fn publish(&self, entry: OutboxEntry) {
        if entry.event.deferred() {
            return;
        }
        match self.0.publisher.publish(&entry.event).await {
            Ok(()) => {
                self.metrics().outbox_published(OutboxPublisher::Api).inc();
                if let Err(error) = self.store().outbox_done(entry.id).await {
                    // published twice at worst, and every job is idempotent
                    tracing::warn!(outbox_id = entry.id, %error, "published event left in the outbox");
                }
            }
            Err(error) => {
                tracing::warn!(outbox_id = entry.id, %error, "event left in the outbox for the relay");
            }
        }
    }

    /// Publishes, through `publisher`, every deferred outbox event and every other one older
    /// than `min_age` (younger ones are still in the hands of the api that wrote them), a batch
    /// per transaction, the favourites of one status coalesced into one event; then samples
    /// how many are left. Any number of workers may relay side by side.
    pub async fn relay_outbox(&self, publisher: &Publisher, min_age: Duration) {
        loop {
            let relayed = self
                .store()
                .outbox_relay(min_age.as_secs_f64(), RELAY_BATCH, |events| async move {
                    for event in tusk_core::event::coalesce(events) {
                        publisher.publish(&event).await.map_err(RelayError::Queue)?;
                    }
                    Ok::<(), RelayError>(())
                })
                .await;
            match relayed {
                Ok(n) => {
                    self.metrics().outbox_published(OutboxPublisher::Relay).inc_by(n as u64);
                    if n > 0 {
                        tracing::info!(events = n, "relayed outbox events");
                    }
                    if n < RELAY_BATCH as usize {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "outbox relay paused");
                    break;
                }
            }
        }
        match self.store().outbox_pending().await {
            Ok(pending) => self.metrics().outbox_pending.set(pending),
            Err(error) => tracing::warn!(%error, "outbox size not sampled"),
        }
    }

    /// Deletes the `Idempotency-Key`s older than their hour.
    pub async fn expire_idempotency_keys(&self) {
        match self.store().expire_idempotency_keys().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(keys = n, "expired Idempotency-Keys deleted"),
            Err(error) => tracing::warn!(%error, "expired Idempotency-Keys not deleted"),
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

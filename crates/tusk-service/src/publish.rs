use tusk_store::OutboxEntry;
use tusk_telemetry::OutboxPublisher;

use crate::Service;

impl Service {
    /// Publishes an event whose outbox row is already committed, then deletes the row. Never
    /// fails the request: an event the broker did not confirm stays in the outbox, and the
    /// worker's relay publishes it later.
    pub async fn publish(&self, entry: OutboxEntry) {
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
}

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation};
use tracing::Instrument as _;
use tusk_core::{Event, FanoutBatch};

use crate::link::Link;
use crate::{QueueError, Result, TIMEOUT, Topology};

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// Publishes messages with publisher confirms. Connects on first use and again after any
/// failure, so a RabbitMQ restart costs the failed publishes only (their outbox rows stay).
pub struct Publisher {
    link: Link,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").field("topology", &self.link.topology).finish_non_exhaustive()
    }
}

impl Publisher {
    pub fn new(url: &str, name: &str, topology: Topology) -> Self {
        Self { link: Link::new(url, name, topology) }
    }

    /// Publishes an event to the events exchange; returns once the broker has confirmed that
    /// it stored the message.
    pub async fn publish(&self, event: &Event) -> Result<()> {
        let payload = serde_json::to_vec(event)?;
        let exchange = self.link.topology.exchange.clone();
        self.publish_message(&exchange, event.routing_key(), &payload, FieldTable::default()).await
    }

    /// Publishes a fan-out batch job to the deliver queue; returns once the broker confirmed it.
    pub async fn publish_batch(&self, batch: &FanoutBatch) -> Result<()> {
        let payload = serde_json::to_vec(batch)?;
        let queue = self.link.topology.deliver_queue.clone();
        self.publish_to_queue(&queue, &payload, FieldTable::default()).await
    }

    /// Whether the publisher holds a live connection (connecting first if it has none).
    pub async fn is_connected(&self) -> bool {
        self.link.channel().await.is_ok()
    }

    /// Publishes a message straight into `queue`, through the default exchange.
    pub(crate) async fn publish_to_queue(
        &self,
        queue: &str,
        payload: &[u8],
        headers: FieldTable,
    ) -> Result<()> {
        self.publish_message("", queue, payload, headers).await
    }

    async fn publish_message(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        headers: FieldTable,
    ) -> Result<()> {
        let span = tracing::info_span!(
            "amqp publish",
            otel.name = format!("publish {}", if exchange.is_empty() { routing_key } else { exchange }),
            otel.kind = "producer",
            messaging.system = "rabbitmq",
            messaging.destination.name = exchange,
            messaging.rabbitmq.destination.routing_key = routing_key,
        );
        let publish = async {
            let channel = self.link.channel().await?;
            tokio::time::timeout(TIMEOUT, publish_on(&channel, exchange, routing_key, payload, headers))
                .await
                .unwrap_or(Err(QueueError::Timeout(TIMEOUT)))
        };
        let result = publish.instrument(span).await;
        if matches!(result, Err(QueueError::Amqp(_) | QueueError::Timeout(_))) {
            self.link.reset().await;
        }
        result
    }
}

async fn publish_on(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    mut headers: FieldTable,
) -> Result<()> {
    // the W3C trace context of the publish span, so that the consumer continues the trace
    for (name, value) in tusk_telemetry::current_trace_headers() {
        headers.insert(name.into(), AMQPValue::LongString(value.into()));
    }
    let properties = BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type("application/json".into())
        .with_headers(headers);
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            // mandatory: a message no queue would take comes back, and is not counted as sent
            BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() },
            payload,
            properties,
        )
        .await?;
    match confirm.await? {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) => Err(QueueError::Unroutable(routing_key.to_owned())),
        Confirmation::Nack(_) | Confirmation::NotRequested => Err(QueueError::Nacked),
    }
}

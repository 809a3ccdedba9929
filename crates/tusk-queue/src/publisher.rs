use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use tokio::sync::Mutex;
use tracing::Instrument as _;
use tusk_core::Event;

use crate::{QueueError, Result, Topology};

pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);
/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// Publishes events with publisher confirms. Connects on first use and again after any
/// failure, so a RabbitMQ restart costs the failed publishes only (their outbox rows stay).
pub struct Publisher {
    url: String,
    name: String,
    topology: Topology,
    link: Mutex<Option<(Connection, Channel)>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").field("topology", &self.topology).finish_non_exhaustive()
    }
}

impl Publisher {
    pub fn new(url: &str, name: &str, topology: Topology) -> Self {
        Self { url: url.to_owned(), name: name.to_owned(), topology, link: Mutex::new(None) }
    }

    /// Publishes an event to the events exchange; returns once the broker has confirmed that
    /// it stored the message.
    pub async fn publish(&self, event: &Event) -> Result<()> {
        let payload = serde_json::to_vec(event)?;
        let exchange = self.topology.exchange.clone();
        self.publish_all(&exchange, event.routing_key(), &[(payload, FieldTable::default())]).await
    }

    /// Publishes messages straight into `queue` (through the default exchange) and returns once
    /// the broker confirmed every one of them. The confirms are awaited together, so a plan job
    /// that emits a hundred batches pays for about one round trip.
    pub async fn publish_to_queue(&self, queue: &str, messages: &[(Vec<u8>, FieldTable)]) -> Result<()> {
        self.publish_all("", queue, messages).await
    }

    /// Whether the publisher holds a live connection (connecting first if it has none).
    pub async fn is_connected(&self) -> bool {
        self.channel().await.is_ok()
    }

    async fn publish_all(
        &self,
        exchange: &str,
        routing_key: &str,
        messages: &[(Vec<u8>, FieldTable)],
    ) -> Result<()> {
        let span = tracing::info_span!(
            "amqp publish",
            otel.name = format!("publish {}", if exchange.is_empty() { routing_key } else { exchange }),
            otel.kind = "producer",
            messaging.system = "rabbitmq",
            messaging.destination.name = exchange,
            messaging.rabbitmq.destination.routing_key = routing_key,
            messaging.batch.message_count = messages.len(),
        );
        let publish = async {
            let channel = self.channel().await?;
            tokio::time::timeout(TIMEOUT, publish_on(&channel, exchange, routing_key, messages))
                .await
                .unwrap_or(Err(QueueError::Timeout(TIMEOUT)))
        };
        let result = publish.instrument(span).await;
        if matches!(result, Err(QueueError::Amqp(_) | QueueError::Timeout(_))) {
            // the link is suspect: the next publish opens a fresh one
            *self.link.lock().await = None;
        }
        result
    }

    async fn channel(&self) -> Result<Channel> {
        let mut link = self.link.lock().await;
        if let Some((connection, channel)) = link.as_ref()
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        // connecting, opening the channel and declaring the topology together get one deadline
        let open = async {
            let connection = crate::connect(&self.url, &self.name).await?;
            let channel = connection.create_channel().await?;
            channel.confirm_select(ConfirmSelectOptions::default()).await?;
            self.topology.declare(&channel).await?;
            Ok::<_, QueueError>((connection, channel))
        };
        let (connection, channel) =
            tokio::time::timeout(TIMEOUT, open).await.map_err(|_| QueueError::Timeout(TIMEOUT))??;
        *link = Some((connection, channel.clone()));
        Ok(channel)
    }
}

async fn publish_on(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    messages: &[(Vec<u8>, FieldTable)],
) -> Result<()> {
    // the W3C trace context of the publish span, so that the consumer continues the trace
    let trace: Vec<(ShortString, AMQPValue)> = tusk_telemetry::current_trace_headers()
        .into_iter()
        .map(|(name, value)| (name.into(), AMQPValue::LongString(value.into())))
        .collect();
    let mut confirms = Vec::with_capacity(messages.len());
    for (payload, headers) in messages {
        let mut headers = headers.clone();
        for (name, value) in &trace {
            headers.insert(name.clone(), value.clone());
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
        confirms.push(confirm);
    }
    for confirm in confirms {
        match confirm.await? {
            Confirmation::Ack(None) => {}
            Confirmation::Ack(Some(_)) => return Err(QueueError::Unroutable(routing_key.to_owned())),
            Confirmation::Nack(_) | Confirmation::NotRequested => return Err(QueueError::Nacked),
        }
    }
    Ok(())
}

//! RabbitMQ: the topology, a publisher with confirms, the consume loop with manual acks,
//! retries and parking, and the queue-depth sampler.
//!
//! Topology (part of the operator contract; `{p}` is the prefix, `tusk` by default):
//! - exchange `{p}.events`, topic, durable: the api publishes events to it;
//! - queue `{p}.fanout`, bound to `status.*`, `follow.*` and `account.*`: events, for plan jobs;
//! - queue `{p}.deliver`: fan-out batches, published straight to it by the plan jobs;
//! - queues `{queue}.retry.{N}ms` (one per retry delay, for each of the two above): a failed
//!   message waits there N ms, then dead-letters back to `{queue}`;
//! - queues `{queue}.parked`: messages that failed every retry, kept for an operator.
//!
//! Every queue is quorum (replicated, durable) unless tests ask for classic ones. Messages are
//! persistent JSON: [`tusk_core::Event`]s on `{p}.fanout`, [`tusk_core::FanoutBatch`]es on
//! `{p}.deliver`; consumers get them decoded as a [`Message`].

pub use lapin;

mod consumer;
mod depth;
mod link;
mod publisher;
mod topology;

pub use consumer::{Consumer, ConsumerSettings, Message};
pub use depth::QueueDepth;
pub use publisher::Publisher;
pub use topology::RETRY_DELAYS;
pub use topology::{QueueType, Topology};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("rabbitmq: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("rabbitmq did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("no queue is bound for routing key {0}")]
    Unroutable(String),
    #[error("message could not be encoded: {0}")]
    Encoding(#[from] serde_json::Error),
}

pub type Result<T, E = QueueError> = std::result::Result<T, E>;

/// The deadline of every call to the broker.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens a connection named after the process role (it shows in the management UI).
pub async fn connect(url: &str, name: &str) -> Result<lapin::Connection> {
    let properties = lapin::ConnectionProperties::default().with_connection_name(name.into());
    let connect = lapin::Connection::connect(url, properties);
    tokio::time::timeout(TIMEOUT, connect)
        .await
        .map_err(|_| QueueError::Timeout(TIMEOUT))?
        .map_err(QueueError::from)
}

//! RabbitMQ: the topology, a publisher with confirms, and consumers with manual acks.
//!
//! Topology (part of the operator contract; `{prefix}` defaults to `tusk`):
//! - exchange `{prefix}.events`, topic, durable;
//! - queue `{prefix}.fanout`, quorum (replicated, durable), bound to `status.*` and `follow.*`.
//!
//! Messages are persistent JSON [`tusk_core::Event`]s; the routing key is the event's.

pub use lapin;

mod publisher;
mod topology;

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
    #[error("event could not be encoded: {0}")]
    Encoding(#[from] serde_json::Error),
}

pub type Result<T, E = QueueError> = std::result::Result<T, E>;

/// Opens a connection named after the process role (it shows in the management UI).
pub async fn connect(url: &str, name: &str) -> Result<lapin::Connection> {
    let properties = lapin::ConnectionProperties::default().with_connection_name(name.into());
    let connect = lapin::Connection::connect(url, properties);
    tokio::time::timeout(publisher::TIMEOUT, connect)
        .await
        .map_err(|_| QueueError::Timeout(publisher::TIMEOUT))?
        .map_err(QueueError::from)
}

use lapin::options::{
    BasicConsumeOptions, BasicQosOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Consumer, ExchangeKind};

use crate::Result;

/// The names of Tusk's exchange and queues under one prefix (tests use their own prefix).
#[derive(Clone, Debug)]
pub struct Topology {
    pub exchange: String,
    pub fanout_queue: String,
}

impl Topology {
    pub fn new(prefix: &str) -> Self {
        Self {
            exchange: format!("{prefix}.events"),
            fanout_queue: format!("{prefix}.fanout"),
        }
    }

    /// Declares everything; idempotent, so every process does it on connect and a broker that
    /// lost its definitions heals itself.
    pub async fn declare(&self, channel: &Channel) -> Result<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
        let mut arguments = FieldTable::default();
        // quorum queues replicate across the cluster's nodes and survive a node's loss
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(self.fanout_queue.as_str().into(), options, arguments)
            .await?;
        for pattern in ["status.*", "follow.*"] {
            channel
                .queue_bind(
                    self.fanout_queue.as_str().into(),
                    self.exchange.as_str().into(),
                    pattern.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }

    /// Starts consuming `queue` with manual acks and at most `prefetch` unacked messages.
    pub async fn consume(
        &self,
        channel: &Channel,
        queue: &str,
        tag: &str,
        prefetch: u16,
    ) -> Result<Consumer> {
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        Ok(channel
            .basic_consume(
                queue.into(),
                tag.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?)
    }

    /// Messages ready in `queue`, through a passive declare (needs no management plugin).
    pub async fn messages_ready(channel: &Channel, queue: &str) -> Result<u32> {
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        Ok(channel
            .queue_declare(queue.into(), options, FieldTable::default())
            .await?
            .message_count())
    }
}

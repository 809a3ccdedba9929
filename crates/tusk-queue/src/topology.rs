use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, BasicQosOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Consumer, ExchangeKind};

use crate::Result;

/// How long a failed message waits before each retry. After the last one it is parked.
pub const RETRY_DELAYS: [Duration; 3] =
    [Duration::from_secs(1), Duration::from_secs(10), Duration::from_mins(1)];

/// The kind of RabbitMQ queue Tusk declares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueueType {
    /// Replicated (Raft) and durable: survives the loss of a node. For production.
    #[default]
    Quorum,
    /// A single node's durable queue: far cheaper to create, for tests that make hundreds.
    Classic,
}

impl std::str::FromStr for QueueType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "quorum" => Ok(Self::Quorum),
            "classic" => Ok(Self::Classic),
            other => Err(format!("unknown queue type {other:?} (quorum or classic)")),
        }
    }
}

/// The names of Tusk's exchange and queues under one prefix (tests use their own prefix).
///
/// - `{p}.events`: topic exchange the api publishes events to;
/// - `{p}.fanout`: quorum queue of events (`status.*`, `follow.*`, `account.*`): plan jobs;
/// - `{p}.deliver`: quorum queue of fan-out batches, fed by the plan jobs;
/// - `{p}.notify`: quorum queue of the events that notify (`status.created`, `follow.created`,
///   `follow.requested`, `favourite.*`): notification jobs;
/// - `{p}.media`: quorum queue of uploads to process (`media.*`), CPU-heavy work consumed apart
///   from the others (its own consumer and concurrency), so a burst of uploads never delays
///   the fan-out;
/// - `{queue}.retry.{N}ms`: a failed message waits here N ms, then goes back to `{queue}`;
/// - `{queue}.parked`: a message that failed every retry, kept for an operator to inspect.
#[derive(Clone, Debug)]
pub struct Topology {
    pub exchange: String,
    pub fanout_queue: String,
    pub deliver_queue: String,
    /// The events that notify someone (mentions, follows, favourites, reblogs), on their own
    /// queue so that a favourite storm never delays the fan-out.
    pub notify_queue: String,
    /// Uploads to process: images, videos, avatars and headers.
    pub media_queue: String,
    /// The wait before each retry of a failed message.
    pub retry_delays: Vec<Duration>,
    pub queue_type: QueueType,
}

fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

impl Topology {
    pub fn new(prefix: &str) -> Self {
        Self {
            exchange: format!("{prefix}.events"),
            fanout_queue: format!("{prefix}.fanout"),
            deliver_queue: format!("{prefix}.deliver"),
            notify_queue: format!("{prefix}.notify"),
            media_queue: format!("{prefix}.media"),
            retry_delays: RETRY_DELAYS.to_vec(),
            queue_type: QueueType::default(),
        }
    }

    /// The queues workers consume.
    pub fn work_queues(&self) -> [&str; 4] {
        [&self.fanout_queue, &self.deliver_queue, &self.notify_queue, &self.media_queue]
    }

    /// The work queue of a group name (`fanout`, `deliver`, `notify`, `media`: what
    /// `tusk worker --queues` takes).
    pub fn work_queue(&self, group: &str) -> Option<&str> {
        let queue = match group {
            "fanout" => &self.fanout_queue,
            "deliver" => &self.deliver_queue,
            "notify" => &self.notify_queue,
            "media" => &self.media_queue,
            _ => return None,
        };
        Some(queue)
    }

    pub fn retry_queue(queue: &str, delay: Duration) -> String {
        format!("{queue}.retry.{}ms", delay.as_millis())
    }

    pub fn parked_queue(queue: &str) -> String {
        format!("{queue}.parked")
    }

    fn queue_arguments(&self) -> FieldTable {
        let mut arguments = FieldTable::default();
        let kind = match self.queue_type {
            // quorum queues replicate across the cluster's nodes and survive a node's loss
            QueueType::Quorum => "quorum",
            QueueType::Classic => "classic",
        };
        arguments.insert("x-queue-type".into(), long(kind));
        arguments
    }

    /// Declares everything; idempotent, so every process does it on connect and a broker that
    /// lost its definitions heals itself.
    pub async fn declare(&self, channel: &Channel) -> Result<()> {
        let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
        for queue in self.work_queues() {
            declare_queue(channel, queue, self.queue_arguments()).await?;
            for delay in &self.retry_delays {
                let mut arguments = self.queue_arguments();
                arguments.insert("x-message-ttl".into(), AMQPValue::LongLongInt(delay.as_millis() as i64));
                // expired messages go back to the work queue through the default exchange
                arguments.insert("x-dead-letter-exchange".into(), long(""));
                arguments.insert("x-dead-letter-routing-key".into(), long(queue));
                if self.queue_type == QueueType::Quorum {
                    // at-least-once dead-lettering: a message is not dropped on its way back
                    arguments.insert("x-dead-letter-strategy".into(), long("at-least-once"));
                    arguments.insert("x-overflow".into(), long("reject-publish"));
                }
                declare_queue(channel, &Self::retry_queue(queue, *delay), arguments).await?;
            }
            declare_queue(channel, &Self::parked_queue(queue), self.queue_arguments()).await?;
        }
        let bindings = [
            (&self.fanout_queue, ["status.*", "follow.*", "account.*"].as_slice()),
            (
                &self.notify_queue,
                ["status.created", "follow.created", "follow.requested", "favourite.*"].as_slice(),
            ),
            (&self.media_queue, ["media.*"].as_slice()),
        ];
        for (queue, patterns) in bindings {
            for pattern in patterns {
                channel
                    .queue_bind(
                        queue.as_str().into(),
                        self.exchange.as_str().into(),
                        (*pattern).into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Starts consuming `queue` with manual acks and at most `prefetch` unacked messages (per
    /// consumer: quorum queues do not support a channel-wide limit).
    pub async fn consume(channel: &Channel, queue: &str, prefetch: u16) -> Result<Consumer> {
        channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
        Ok(channel
            .basic_consume(
                queue.into(),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?)
    }

    /// Messages ready in `queue`, through a passive declare (needs no management plugin).
    pub async fn messages_ready(channel: &Channel, queue: &str) -> Result<u32> {
        let options = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        Ok(channel.queue_declare(queue.into(), options, FieldTable::default()).await?.message_count())
    }
}

async fn declare_queue(channel: &Channel, name: &str, arguments: FieldTable) -> Result<()> {
    let options = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(name.into(), options, arguments).await?;
    Ok(())
}

//! The consume loop over the work queues: manual acks, an ack only after the handler returned
//! Ok. A failed message is republished to a retry queue (1 s, 10 s, 60 s later it returns), and
//! after the last retry it is parked in `{queue}.parked` and counted in `tusk_jobs_parked_total`.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::AMQPValue;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use tusk_core::{Event, FanoutBatch};
use tusk_telemetry::Metrics;

use crate::{Publisher, Result, Topology};

const RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// The header counting how often a message has failed.
const ATTEMPT_HEADER: &str = "x-tusk-attempt";

/// A message from one of the work queues, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// From `{p}.fanout`: something happened.
    Event(Event),
    /// From `{p}.deliver`: a slice of a fan-out.
    Batch(FanoutBatch),
    /// From `{p}.notify`: something happened that may notify someone.
    Notify(Event),
    /// From `{p}.media`: an upload to process.
    Media(Event),
}

impl Message {
    fn decode(topology: &Topology, queue: &str, data: &[u8]) -> Result<Self, serde_json::Error> {
        if queue == topology.deliver_queue {
            serde_json::from_slice(data).map(Message::Batch)
        } else if queue == topology.notify_queue {
            serde_json::from_slice(data).map(Message::Notify)
        } else if queue == topology.media_queue {
            serde_json::from_slice(data).map(Message::Media)
        } else {
            serde_json::from_slice(data).map(Message::Event)
        }
    }
}

/// Where a consumer connects and how much it takes on at once.
#[derive(Clone, Debug)]
pub struct ConsumerSettings {
    pub amqp_url: String,
    /// The connection's name in the management UI.
    pub name: String,
    pub topology: Topology,
    /// The work queues this consumer takes messages from (of `topology.work_queues()`).
    pub queues: Vec<String>,
    /// Unacked messages RabbitMQ hands the consumer at once, per work queue.
    pub prefetch: u16,
    /// Messages handled concurrently.
    pub concurrency: usize,
}

/// Consumes the work queues of a topology, reconnecting until shut down.
#[derive(Debug)]
pub struct Consumer {
    settings: ConsumerSettings,
    /// Republishes failed messages to the retry and parked queues.
    retries: Arc<Publisher>,
    metrics: Metrics,
    /// Whether the consumer holds a live connection, for `/readyz`.
    consuming: AtomicBool,
}

impl Consumer {
    pub fn new(settings: ConsumerSettings, retries: Arc<Publisher>, metrics: Metrics) -> Self {
        // the series exist from the start, so that alerts see a first parked message as an increase
        for queue in &settings.queues {
            metrics.jobs_parked_total.with_label_values(&[queue]);
        }
        Self { settings, retries, metrics, consuming: AtomicBool::new(false) }
    }

    /// Whether the consumer is connected to RabbitMQ.
    pub fn is_consuming(&self) -> bool {
        self.consuming.load(Ordering::SeqCst)
    }

    /// Hands every message of the work queues to `handler` until `shutdown` is cancelled; then
    /// stops taking messages, finishes the ones in hand and returns. A message is acked once
    /// `handler` returned Ok, retried or parked when it returned an error.
    pub async fn run<F, Fut, E>(&self, shutdown: &CancellationToken, handler: F)
    where
        F: Fn(Message) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        while !shutdown.is_cancelled() {
            let result = self.consume(shutdown, &handler).await;
            self.consuming.store(false, Ordering::SeqCst);
            if shutdown.is_cancelled() {
                break;
            }
            match result {
                Ok(()) => tracing::warn!("consumer stream ended; reconnecting"),
                Err(error) => tracing::warn!(%error, "consumer lost its connection; reconnecting"),
            }
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(RECONNECT_DELAY) => {}
            }
        }
        self.consuming.store(false, Ordering::SeqCst);
    }

    async fn consume<F, Fut, E>(&self, shutdown: &CancellationToken, handler: &F) -> Result<()>
    where
        F: Fn(Message) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        let settings = &self.settings;
        let topology = &settings.topology;
        let connection = crate::connect(&settings.amqp_url, &settings.name).await?;
        let channel = connection.create_channel().await?;
        topology.declare(&channel).await?;
        let mut streams = Vec::new();
        for queue in &settings.queues {
            let consumer = Topology::consume(&channel, queue, settings.prefetch).await?;
            streams.push(consumer.map(move |delivery| (queue.as_str(), delivery)).boxed());
        }
        self.consuming.store(true, Ordering::SeqCst);
        tracing::info!(queues = ?settings.queues, "consuming");
        // stop taking deliveries at shutdown; those in hand finish, unacked prefetched ones go back
        let failure = std::sync::Mutex::new(None);
        futures_util::stream::select_all(streams)
            .take_until(shutdown.cancelled())
            .for_each_concurrent(settings.concurrency, |(queue, delivery)| {
                let failure = &failure;
                async move {
                    match delivery {
                        Ok(delivery) => self.handle(queue, delivery, handler).await,
                        Err(error) => {
                            if let Ok(mut slot) = failure.lock() {
                                *slot = Some(error);
                            }
                        }
                    }
                }
            })
            .await;
        let _ = channel.close(200, "bye".into()).await;
        let _ = connection.close(200, "bye".into()).await;
        match failure.into_inner().ok().flatten() {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }

    /// Handles one delivery in a consumer span that continues the publisher's trace (the W3C
    /// trace context travels in the message headers).
    async fn handle<F, Fut, E>(&self, queue: &str, delivery: Delivery, handler: &F)
    where
        F: Fn(Message) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        let span = tracing::info_span!(
            "amqp consume",
            otel.name = format!("consume {queue}"),
            otel.kind = "consumer",
            messaging.system = "rabbitmq",
            messaging.destination.name = queue,
        );
        let headers = delivery.properties.headers().as_ref();
        tusk_telemetry::continue_trace(&span, |name| match headers?.inner().get(name)? {
            AMQPValue::LongString(value) => Some(String::from_utf8_lossy(value.as_bytes()).into_owned()),
            AMQPValue::ShortString(value) => Some(value.as_str().to_owned()),
            _ => None,
        });
        let handled = async {
            let outcome = match Message::decode(&self.settings.topology, queue, &delivery.data) {
                Ok(message) => handler(message).await.map_err(|error| error.to_string()),
                Err(error) => Err(format!("unreadable message: {error}")),
            };
            self.settle(queue, &delivery, outcome).await;
        };
        handled.instrument(span).await;
    }

    /// Acks a handled message; retries or parks a failed one.
    async fn settle(&self, queue: &str, delivery: &Delivery, outcome: Result<(), String>) {
        let acked = match outcome {
            Ok(()) => delivery.ack(BasicAckOptions::default()).await,
            Err(error) => match self.retry_or_park(queue, delivery, &error).await {
                // the copy is safely stored elsewhere: this one is done
                Ok(()) => delivery.ack(BasicAckOptions::default()).await,
                Err(publish_error) => {
                    tracing::warn!(%publish_error, "retry not scheduled; message requeued");
                    let requeue = BasicNackOptions { requeue: true, multiple: false };
                    delivery.nack(requeue).await
                }
            },
        };
        if let Err(error) = acked {
            // the channel is gone; RabbitMQ redelivers the message to another consumer
            tracing::warn!(%error, "ack not sent");
        }
    }

    /// Republishes a failed message to the retry queue of its next attempt, or parks it.
    async fn retry_or_park(&self, queue: &str, delivery: &Delivery, error: &str) -> Result<()> {
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        let attempt = match headers.inner().get(ATTEMPT_HEADER) {
            Some(AMQPValue::LongLongInt(n)) => usize::try_from(*n).unwrap_or(0),
            _ => 0,
        };
        headers.insert(ATTEMPT_HEADER.into(), AMQPValue::LongLongInt(attempt as i64 + 1));
        if let Some(delay) = self.settings.topology.retry_delays.get(attempt) {
            tracing::warn!(queue, attempt = attempt + 1, ?delay, error, "job failed; retrying later");
            let retry_queue = Topology::retry_queue(queue, *delay);
            self.retries.publish_to_queue(&retry_queue, &delivery.data, headers).await
        } else {
            tracing::error!(queue, attempts = attempt + 1, error, "job failed every retry; parked");
            let parked = Topology::parked_queue(queue);
            self.retries.publish_to_queue(&parked, &delivery.data, headers).await?;
            self.metrics.jobs_parked_total.with_label_values(&[queue]).inc();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use tusk_core::{FeedAction, Id};

    use super::*;

    #[test]
    fn messages_are_decoded_by_the_queue_they_come_from() {
        let topology = Topology::new("t");
        let event = Event::FollowCreated { account_id: Id(1), target_account_id: Id(2), approved: false };
        let batch = FanoutBatch {
            action: FeedAction::Insert,
            status_id: Id(3),
            author_id: Id(1),
            feeds: vec![Id(2)],
            reblog_of: None,
        };
        let decode = |queue: &str, body: &[u8]| Message::decode(&topology, queue, body).ok();
        let event_json = serde_json::to_vec(&event).unwrap();
        let batch_json = serde_json::to_vec(&batch).unwrap();
        assert_eq!(decode("t.fanout", &event_json), Some(Message::Event(event.clone())));
        assert_eq!(decode("t.deliver", &batch_json), Some(Message::Batch(batch)));
        assert_eq!(decode("t.notify", &event_json), Some(Message::Notify(event.clone())));
        assert_eq!(decode("t.media", &event_json), Some(Message::Media(event.clone())));
        // a batch is no event, nor an event a batch: each fails, to be retried and parked
        assert_eq!(decode("t.fanout", &batch_json), None);
        assert_eq!(decode("t.deliver", &event_json), None);
        assert_eq!(decode("t.fanout", br#"{"type": "no_such_event"}"#), None);
    }
}

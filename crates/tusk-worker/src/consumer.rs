//! The consume loop over the work queues: manual acks, an ack only after the job's effect is
//! stored. A failed message is republished to a retry queue (1 s, 10 s, 60 s later it returns),
//! and after the last retry it is parked in `{queue}.parked` and counted.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::AMQPValue;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use tusk_queue::Topology;

use crate::Worker;
use crate::jobs::{self, Message};

const RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// The header counting how often a message has failed.
const ATTEMPT_HEADER: &str = "x-tusk-attempt";

pub(crate) async fn run(worker: Worker, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let result = consume(&worker, &shutdown).await;
        worker.consuming.store(false, Ordering::SeqCst);
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
    worker.consuming.store(false, Ordering::SeqCst);
}

async fn consume(worker: &Worker, shutdown: &CancellationToken) -> tusk_queue::Result<()> {
    let settings = &worker.settings;
    let topology = &settings.topology;
    let connection = tusk_queue::connect(&settings.amqp_url, "tusk-worker").await?;
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    let mut streams = Vec::new();
    for queue in topology.work_queues() {
        let consumer = Topology::consume(&channel, queue, settings.prefetch).await?;
        streams.push(consumer.map(move |delivery| (queue, delivery)).boxed());
    }
    let sampler = tokio::spawn(sample_queue_depth(
        worker.clone(),
        connection.create_channel().await?,
        shutdown.clone(),
    ));
    worker.consuming.store(true, Ordering::SeqCst);
    tracing::info!(queues = ?topology.work_queues(), "consuming");
    // stop taking deliveries at shutdown; those in hand finish, unacked prefetched ones go back
    let failure = std::sync::Mutex::new(None);
    futures_util::stream::select_all(streams)
        .take_until(shutdown.cancelled())
        .for_each_concurrent(settings.concurrency, |(queue, delivery)| {
            let failure = &failure;
            async move {
                match delivery {
                    Ok(delivery) => handle(worker, queue, delivery).await,
                    Err(error) => {
                        if let Ok(mut slot) = failure.lock() {
                            *slot = Some(error);
                        }
                    }
                }
            }
        })
        .await;
    sampler.abort();
    let _ = channel.close(200, "bye".into()).await;
    let _ = connection.close(200, "bye".into()).await;
    match failure.into_inner().ok().flatten() {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

fn parse(worker: &Worker, queue: &str, data: &[u8]) -> Result<Message, serde_json::Error> {
    if queue == worker.settings.topology.deliver_queue {
        serde_json::from_slice(data).map(Message::Batch)
    } else {
        serde_json::from_slice(data).map(Message::Event)
    }
}

/// Handles one delivery in a consumer span that continues the publisher's trace (the W3C trace
/// context travels in the message headers).
async fn handle(worker: &Worker, queue: &str, delivery: Delivery) {
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
    handle_in_span(worker, queue, delivery).instrument(span).await;
}

async fn handle_in_span(worker: &Worker, queue: &str, delivery: Delivery) {
    let outcome = match parse(worker, queue, &delivery.data) {
        Ok(message) => jobs::perform(worker, message).await.map_err(|e| e.to_string()),
        Err(error) => Err(format!("unreadable message: {error}")),
    };
    let acked = match outcome {
        Ok(()) => delivery.ack(BasicAckOptions::default()).await,
        Err(error) => match retry_or_park(worker, queue, &delivery, &error).await {
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
async fn retry_or_park(
    worker: &Worker,
    queue: &str,
    delivery: &Delivery,
    error: &str,
) -> tusk_queue::Result<()> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    let attempt = match headers.inner().get(ATTEMPT_HEADER) {
        Some(AMQPValue::LongLongInt(n)) => usize::try_from(*n).unwrap_or(0),
        _ => 0,
    };
    headers.insert(ATTEMPT_HEADER.into(), AMQPValue::LongLongInt(attempt as i64 + 1));
    let message = [(delivery.data.clone(), headers)];
    if let Some(delay) = worker.settings.topology.retry_delays.get(attempt) {
        tracing::warn!(queue, attempt = attempt + 1, ?delay, error, "job failed; retrying later");
        worker.publisher.publish_to_queue(&Topology::retry_queue(queue, *delay), &message).await
    } else {
        tracing::error!(queue, attempts = attempt + 1, error, "job failed every retry; parked");
        worker.publisher.publish_to_queue(&Topology::parked_queue(queue), &message).await?;
        worker.metrics.jobs_parked_total.with_label_values(&[queue]).inc();
        Ok(())
    }
}

/// Samples the depth of the work and parked queues for `tusk_queue_messages_ready`.
async fn sample_queue_depth(worker: Worker, channel: lapin::Channel, shutdown: CancellationToken) {
    let topology = &worker.settings.topology;
    let queues: Vec<String> =
        topology.work_queues().iter().flat_map(|q| [(*q).to_owned(), Topology::parked_queue(q)]).collect();
    loop {
        for queue in &queues {
            match Topology::messages_ready(&channel, queue).await {
                Ok(ready) => worker
                    .metrics
                    .queue_messages_ready
                    .with_label_values(&[queue.as_str()])
                    .set(i64::from(ready)),
                Err(error) => tracing::warn!(%error, queue, "queue depth not sampled"),
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(worker.settings.poll_interval) => {}
        }
    }
}

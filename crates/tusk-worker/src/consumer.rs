//! The consume loop: manual acks, an ack only after the job's effect is stored in Redis.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use tokio_util::sync::CancellationToken;
use tusk_core::Event;
use tusk_queue::Topology;

use crate::{Worker, jobs};

/// Wait before retrying a failed job, so that a broken dependency is not hammered.
const RETRY_DELAY: Duration = Duration::from_secs(1);
const RECONNECT_DELAY: Duration = Duration::from_secs(2);

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
    let connection = tusk_queue::connect(&settings.amqp_url, "tusk-worker").await?;
    let channel = connection.create_channel().await?;
    settings.topology.declare(&channel).await?;
    let consumer = settings
        .topology
        .consume(
            &channel,
            &settings.topology.fanout_queue,
            "",
            settings.prefetch,
        )
        .await?;
    let sampler = tokio::spawn(sample_queue_depth(
        worker.clone(),
        connection.create_channel().await?,
        shutdown.clone(),
    ));
    worker.consuming.store(true, Ordering::SeqCst);
    tracing::info!(queue = %settings.topology.fanout_queue, "consuming");
    // stop taking deliveries at shutdown; those in hand finish, unacked prefetched ones go back
    let failure = std::sync::Mutex::new(None);
    consumer
        .take_until(shutdown.cancelled())
        .for_each_concurrent(settings.concurrency, |delivery| {
            let failure = &failure;
            async move {
                match delivery {
                    Ok(delivery) => handle(worker, delivery).await,
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

async fn handle(worker: &Worker, delivery: Delivery) {
    let event: Event = match serde_json::from_slice(&delivery.data) {
        Ok(event) => event,
        Err(error) => {
            tracing::error!(%error, routing_key = %delivery.routing_key, "unreadable message rejected");
            worker
                .metrics
                .jobs_total
                .with_label_values(&["unreadable", "rejected"])
                .inc();
            let _ = delivery.reject(BasicRejectOptions { requeue: false }).await;
            return;
        }
    };
    // a failed job was logged and counted; its message goes back for another try
    let acked = if jobs::perform(worker, event).await.is_ok() {
        delivery.ack(BasicAckOptions::default()).await
    } else {
        tokio::time::sleep(RETRY_DELAY).await;
        let requeue = BasicNackOptions {
            requeue: true,
            multiple: false,
        };
        delivery.nack(requeue).await
    };
    if let Err(error) = acked {
        // the channel is gone; RabbitMQ redelivers the message to another consumer
        tracing::warn!(%error, "ack not sent");
    }
}

/// Samples the queue's depth for `tusk_queue_messages_ready` (autoscalers read it).
async fn sample_queue_depth(worker: Worker, channel: lapin::Channel, shutdown: CancellationToken) {
    let queue = worker.settings.topology.fanout_queue.clone();
    loop {
        match Topology::messages_ready(&channel, &queue).await {
            Ok(ready) => worker
                .metrics
                .queue_messages_ready
                .with_label_values(&[queue.as_str()])
                .set(i64::from(ready)),
            Err(error) => tracing::warn!(%error, "queue depth not sampled"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(worker.settings.poll_interval) => {}
        }
    }
}

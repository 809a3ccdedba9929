//! The worker: consumes events from RabbitMQ and does the fan-out work off the request path,
//! and relays outbox events the api could not publish. Jobs are listed in [`jobs`], the
//! periodic tasks in [`periodic`]; the work itself is tusk-service's.

mod jobs;
mod periodic;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tusk_cache::Cache;
use tusk_queue::{Consumer, ConsumerSettings, Publisher, Topology};
use tusk_service::{FanoutSettings, MediaSettings, Service, ServiceSettings};
use tusk_store::Store;
use tusk_telemetry::Metrics;

pub use jobs::JobError;

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub amqp_url: String,
    pub topology: Topology,
    /// Unacked messages RabbitMQ hands this worker at once (`TUSK_WORKER_PREFETCH`).
    pub prefetch: u16,
    /// Jobs run concurrently (`TUSK_WORKER_CONCURRENCY`), over the queues but `media`.
    pub concurrency: usize,
    /// The work queues this worker consumes, by group (`fanout`, `deliver`, `notify`, `media`;
    /// `TUSK_WORKER_QUEUES`): a media worker Deployment takes `media` alone.
    pub queues: Vec<String>,
    /// Uploads processed at once (`TUSK_MEDIA_CONCURRENCY`): the media queue's own consumer, so
    /// that decoding and transcoding never take the fan-out's slots.
    pub media_concurrency: usize,
    /// How often the outbox relay and the queue-depth sampler run.
    pub poll_interval: Duration,
    /// Outbox events younger than this are left to the api that wrote them.
    pub relay_min_age: Duration,
    /// Followers per fan-out batch job (`TUSK_FANOUT_BATCH`).
    pub fanout_batch: usize,
    /// Only users active this recently get write fan-out (`TUSK_ACTIVE_DAYS`).
    pub active_period: Duration,
    /// Authors with more followers than this are pulled at read time (`TUSK_HYBRID_THRESHOLD`).
    pub hybrid_threshold: i64,
    /// Whether notifications are written (`TUSK_NOTIFICATIONS`).
    pub notifications: bool,
}

/// What every job gets.
#[derive(Clone)]
pub struct Worker {
    /// The use-cases; its publisher publishes the batch jobs.
    pub(crate) service: Service,
    pub(crate) fanout: FanoutSettings,
    pub(crate) metrics: Metrics,
    pub(crate) settings: WorkerSettings,
    /// The consumer of the fan-out and notification queues, and the media queue's own.
    pub(crate) consumers: Vec<Arc<Consumer>>,
}

/// The groups `tusk worker --queues` takes.
pub const QUEUE_GROUPS: [&str; 4] = ["fanout", "deliver", "notify", "media"];

impl Worker {
    pub fn new(
        settings: WorkerSettings,
        store: Store,
        cache: Cache,
        metrics: Metrics,
        media: MediaSettings,
    ) -> Self {
        let publisher =
            Arc::new(Publisher::new(&settings.amqp_url, "tusk-worker-publisher", settings.topology.clone()));
        let topology = &settings.topology;
        // the media queue's work queues (`media`) or the others'
        let queues = |media: bool| -> Vec<String> {
            let groups = settings.queues.iter().filter(|group| (*group == "media") == media);
            groups.filter_map(|group| topology.work_queue(group)).map(str::to_owned).collect()
        };
        let (main, media_queues) = (queues(false), queues(true));
        let consumers = [
            ("tusk-worker", main, settings.concurrency),
            ("tusk-worker-media", media_queues, settings.media_concurrency),
        ]
        .into_iter()
        .filter(|(_, queues, _)| !queues.is_empty())
        .map(|(name, queues, concurrency)| {
            let consumer_settings = ConsumerSettings {
                amqp_url: settings.amqp_url.clone(),
                name: name.into(),
                topology: topology.clone(),
                queues,
                prefetch: settings.prefetch,
                concurrency,
            };
            Arc::new(Consumer::new(consumer_settings, Arc::clone(&publisher), metrics.clone()))
        })
        .collect();
        jobs::init_series(&metrics);
        // the worker hashes no password: one idle hashing thread
        let service_settings = ServiceSettings {
            password_hashers: 1,
            registrations: tusk_core::Registrations::default(),
            notifications: settings.notifications,
        };
        let service = Service::new(service_settings, store, cache, publisher, metrics.clone(), media);
        let fanout = FanoutSettings {
            batch: settings.fanout_batch,
            active_period: settings.active_period,
            hybrid_threshold: settings.hybrid_threshold,
        };
        Self { service, fanout, metrics, settings, consumers }
    }

    /// Whether every consumer is connected to RabbitMQ.
    pub fn is_consuming(&self) -> bool {
        self.consumers.iter().all(|consumer| consumer.is_consuming())
    }

    /// Runs the consumer and the periodic tasks until `shutdown` is cancelled; then stops taking
    /// messages, finishes the ones in hand and returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let periodic = tokio::spawn(periodic::run(self.clone(), shutdown.clone()));
        let consuming = self
            .consumers
            .iter()
            .map(|consumer| consumer.run(&shutdown, |message| jobs::perform(&self, message)));
        futures_util::future::join_all(consuming).await;
        let _ = periodic.await;
    }
}

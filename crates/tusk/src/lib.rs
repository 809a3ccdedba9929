//! Wiring: connects the libraries into the processes `tusk api`, `tusk worker`, `tusk all` and
//! `tusk migrate`. The CLI (main.rs) only parses configuration and calls these.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::FutureExt as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tusk_api::{ApiSettings, AppState};
use tusk_cache::Cache;
use tusk_queue::{Publisher, QueueType, Topology};
use tusk_service::{MediaSettings, Service};
use tusk_store::Store;
use tusk_telemetry::{Metrics, OnDependencyDown, Readiness, ReadinessCheck};
use tusk_worker::{Worker, WorkerSettings};

pub mod accounts;

/// Where the servers are (`DATABASE_URL`, `REDIS_URL`, `AMQP_URL`) and the names this
/// deployment uses in them.
#[derive(Clone, Debug)]
pub struct Connections {
    pub database_url: String,
    pub database_pool_size: u32,
    pub redis_url: String,
    pub redis_prefix: String,
    pub amqp_url: String,
    pub queue_prefix: String,
    /// Quorum in production; classic for tests that create hundreds of queues.
    pub queue_type: QueueType,
    /// Users active within this get write fan-out (`TUSK_ACTIVE_DAYS`).
    pub active_period: Duration,
    /// How long a feed lives unread: users inactive longer get theirs rebuilt when they return.
    pub feed_ttl: Duration,
    /// Where media bytes are kept (`TUSK_MEDIA_*`).
    pub media: tusk_media::StorageConfig,
}

impl Connections {
    pub fn topology(&self) -> Topology {
        Topology { queue_type: self.queue_type, ..Topology::new(&self.queue_prefix) }
    }
}

/// The two steps of a graceful stop: `drain` turns `/readyz` false, `stop` (a moment later)
/// stops taking work and lets in-flight work finish.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    pub drain: CancellationToken,
    pub stop: CancellationToken,
}

impl Shutdown {
    /// Waits for SIGTERM or Ctrl-C, drains, waits `delay` for load balancers to notice, stops.
    pub async fn on_signal(self, delay: Duration) {
        wait_for_signal().await;
        tracing::info!(?delay, "shutting down: draining");
        self.drain.cancel();
        tokio::time::sleep(delay).await;
        self.stop.cancel();
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c().map(|_| ());
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            return ctrl_c.await;
        };
        tokio::select! {
            () = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

/// Creates the database if missing, applies the migrations and declares the RabbitMQ topology.
pub async fn migrate(conn: &Connections) -> anyhow::Result<()> {
    Store::create_database_if_missing(&conn.database_url).await.context("creating the database")?;
    let store = Store::connect_lazy(&conn.database_url, 2)?;
    store.migrate().await.context("migrating PostgreSQL")?;
    let connection =
        tusk_queue::connect(&conn.amqp_url, "tusk-migrate").await.context("connecting to RabbitMQ")?;
    let channel = connection.create_channel().await?;
    conn.topology().declare(&channel).await.context("declaring the RabbitMQ topology")?;
    let _ = connection.close(200, "migrated".into()).await;
    Ok(())
}

/// The shared connections of a process.
#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    pub cache: Cache,
    pub metrics: Metrics,
    pub media: MediaSettings,
}

impl Deps {
    pub async fn connect(conn: &Connections) -> anyhow::Result<Self> {
        let cache = Cache::connect(&conn.redis_url, &conn.redis_prefix, conn.feed_ttl)
            .await
            .context("connecting to Redis")?;
        let metrics = Metrics::new()?;
        metrics.registry.register(Box::new(tusk_cache::NearCacheCollector::new(&cache)?))?;
        Ok(Self {
            store: Store::connect_lazy(&conn.database_url, conn.database_pool_size)?,
            cache,
            metrics,
            media: MediaSettings {
                storage: tusk_media::MediaStorage::new(&conn.media).context("opening media storage")?,
                limits: tusk_media::Limits::default(),
            },
        })
    }

    fn checks(&self) -> Vec<(&'static str, ReadinessCheck)> {
        let store = self.store.clone();
        let cache = self.cache.clone();
        vec![
            (
                "postgres",
                check(move || {
                    let store = store.clone();
                    async move { store.ping().await.map_err(|e| e.to_string()) }
                }),
            ),
            (
                "redis",
                check(move || {
                    let cache = cache.clone();
                    async move { cache.ping().await.map_err(|e| e.to_string()) }
                }),
            ),
        ]
    }
}

fn check<F, Fut>(f: F) -> ReadinessCheck
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    Arc::new(move || f().boxed())
}

/// How often each process checks its dependencies for `tusk_dependency_up`.
const DEPENDENCY_SAMPLING: Duration = Duration::from_secs(5);

/// Serves the admin port of a process in `role` until `stop`, and samples its dependencies.
async fn serve_admin(
    listener: TcpListener,
    deps: &Deps,
    role: &str,
    readiness: Readiness,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    deps.metrics.set_role(role);
    let sampler =
        tokio::spawn(readiness.clone().sample_into(deps.metrics.clone(), DEPENDENCY_SAMPLING, stop.clone()));
    let router = tusk_telemetry::admin_router(deps.metrics.clone(), readiness);
    axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await?;
    sampler.abort();
    Ok(())
}

fn api_state(deps: &Deps, conn: &Connections, settings: ApiSettings) -> (AppState, Arc<Publisher>) {
    let publisher = Arc::new(Publisher::new(&conn.amqp_url, "tusk-api", conn.topology()));
    let service = Service::new(
        settings.service(),
        deps.store.clone(),
        deps.cache.clone(),
        publisher.clone(),
        deps.metrics.clone(),
        deps.media.clone(),
    );
    (AppState::new(settings, service, deps.metrics.clone()), publisher)
}

fn publisher_check(publisher: Arc<Publisher>) -> (&'static str, ReadinessCheck) {
    (
        "rabbitmq",
        check(move || {
            let publisher = publisher.clone();
            async move { if publisher.is_connected().await { Ok(()) } else { Err("not connected".into()) } }
        }),
    )
}

fn worker_check(worker: Worker) -> (&'static str, ReadinessCheck) {
    (
        "rabbitmq",
        check(move || {
            let consuming = worker.is_consuming();
            async move { if consuming { Ok(()) } else { Err("consumer not connected".into()) } }
        }),
    )
}

/// `tusk api`: the public API on `listener`, the admin port on `admin`.
pub async fn run_api(
    deps: Deps,
    conn: &Connections,
    settings: ApiSettings,
    listener: TcpListener,
    admin: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let (state, publisher) = api_state(&deps, conn, settings);
    let mut checks = deps.checks();
    checks.push(publisher_check(publisher));
    let readiness = Readiness::new(checks, OnDependencyDown::Report, shutdown.drain.clone());
    let api = tusk_api::serve(listener, tusk_api::router(state), shutdown.stop.clone().cancelled_owned());
    let (api, admin) = tokio::join!(api, serve_admin(admin, &deps, "api", readiness, shutdown.stop.clone()));
    api?;
    admin
}

/// `tusk worker`: consumers and the outbox relay, with the admin port on `admin`.
pub async fn run_worker(
    deps: Deps,
    settings: WorkerSettings,
    admin: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let worker = Worker::new(
        settings,
        deps.store.clone(),
        deps.cache.clone(),
        deps.metrics.clone(),
        deps.media.clone(),
    );
    let mut checks = deps.checks();
    checks.push(worker_check(worker.clone()));
    let readiness = Readiness::new(checks, OnDependencyDown::NotReady, shutdown.drain.clone());
    let ((), admin) = tokio::join!(
        worker.run(shutdown.stop.clone()),
        serve_admin(admin, &deps, "worker", readiness, shutdown.stop.clone())
    );
    admin
}

/// `tusk all`: api and worker in one process, one admin port.
pub async fn run_all(
    deps: Deps,
    conn: &Connections,
    api_settings: ApiSettings,
    worker_settings: WorkerSettings,
    listener: TcpListener,
    admin: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let (state, publisher) = api_state(&deps, conn, api_settings);
    let worker = Worker::new(
        worker_settings,
        deps.store.clone(),
        deps.cache.clone(),
        deps.metrics.clone(),
        deps.media.clone(),
    );
    let mut checks = deps.checks();
    checks.push(publisher_check(publisher));
    checks.push(worker_check(worker.clone()));
    // it serves the public API: as the api's
    let readiness = Readiness::new(checks, OnDependencyDown::Report, shutdown.drain.clone());
    let api = tusk_api::serve(listener, tusk_api::router(state), shutdown.stop.clone().cancelled_owned());
    let (api, (), admin) = tokio::join!(
        api,
        worker.run(shutdown.stop.clone()),
        serve_admin(admin, &deps, "all", readiness, shutdown.stop.clone())
    );
    api?;
    admin
}

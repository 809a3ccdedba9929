use std::sync::Arc;

use tusk_cache::Cache;
use tusk_core::Instance;
use tusk_queue::Publisher;
use tusk_store::Store;
use tusk_telemetry::Metrics;

use crate::passwords::PasswordHasher;

/// What the api needs besides its connections.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    pub instance: Instance,
    /// How many argon2 hashes may run at once (`TUSK_PASSWORD_HASHERS`); a few more per thread
    /// wait in line and the rest get 503, so a sign-up flood cannot take every core from
    /// timeline reads.
    pub password_hashers: usize,
    /// Streaming connections one replica holds at most (`TUSK_STREAMING_MAX`).
    pub max_streams: usize,
    /// Who may sign up (`TUSK_REGISTRATIONS`).
    pub registrations: tusk_core::Registrations,
    /// Rate limits (`TUSK_RATE_LIMIT_*`, `TUSK_TRUSTED_PROXIES`), counted in Redis.
    pub rate_limits: crate::RateLimits,
    /// Concurrency limits per route class, the request deadline and the body size limit
    /// (`TUSK_CONCURRENCY_*`, `TUSK_REQUEST_TIMEOUT_MS`, `TUSK_MAX_BODY_BYTES`), per replica.
    pub http_limits: crate::HttpLimits,
}

/// Everything a handler reaches, built once at start-up and shared by every request.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<App>);

pub struct App {
    /// The use-cases (timelines, visibility, tokens, the entity cache): handlers reach them
    /// through the delegating methods of timeline.rs.
    pub(crate) service: tusk_service::Service,
    pub(crate) store: Store,
    pub(crate) cache: Cache,
    pub(crate) publisher: Arc<Publisher>,
    pub(crate) metrics: Metrics,
    pub(crate) instance: Instance,
    pub(crate) registrations: tusk_core::Registrations,
    pub(crate) passwords: PasswordHasher,
    pub(crate) streams: Arc<tokio::sync::Semaphore>,
    pub(crate) rate_limiter: crate::ratelimit::RateLimiter,
    pub(crate) overload: crate::overload::Overload,
    /// The instance's counts and when they were read (handlers/instance.rs).
    pub(crate) instance_stats: tokio::sync::Mutex<Option<(std::time::Instant, tusk_store::InstanceStats)>>,
}

impl AppState {
    pub fn new(
        settings: ApiSettings,
        store: Store,
        cache: Cache,
        publisher: Arc<Publisher>,
        metrics: Metrics,
    ) -> Self {
        let passwords = PasswordHasher::new(settings.password_hashers, &metrics);
        let overload = crate::overload::Overload::new(&settings.http_limits, &metrics);
        Self(Arc::new(App {
            service: tusk_service::Service::new(store.clone(), cache.clone(), metrics.clone()),
            store,
            cache,
            publisher,
            metrics,
            instance: settings.instance,
            registrations: settings.registrations,
            passwords,
            streams: Arc::new(tokio::sync::Semaphore::new(settings.max_streams)),
            rate_limiter: crate::ratelimit::RateLimiter::new(settings.rate_limits),
            overload,
            instance_stats: tokio::sync::Mutex::new(None),
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

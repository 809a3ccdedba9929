use std::sync::Arc;

use tusk_core::Instance;
use tusk_service::{Service, ServiceSettings};
use tusk_telemetry::Metrics;

/// What the `tusk api` process is configured with.
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
    /// Whether favourites announce themselves for notifications (`TUSK_NOTIFICATIONS`).
    pub notifications: bool,
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
    /// The use-cases: every handler calls one of them (`state.service`), or a rendering helper
    /// of timeline.rs over them.
    pub(crate) service: Service,
    pub(crate) metrics: Metrics,
    pub(crate) instance: Instance,
    pub(crate) streams: Arc<tokio::sync::Semaphore>,
    pub(crate) rate_limiter: crate::ratelimit::RateLimiter,
    pub(crate) overload: crate::overload::Overload,
    /// Statuses and accounts rendered already (render.rs).
    pub(crate) rendered: crate::render::RenderMemo,
}

impl AppState {
    /// The api over `service`; `settings.password_hashers` and `settings.registrations` are the
    /// service's (see [`ApiSettings::service`]).
    pub fn new(settings: ApiSettings, service: Service, metrics: Metrics) -> Self {
        let overload = crate::overload::Overload::new(&settings.http_limits, &metrics);
        Self(Arc::new(App {
            service,
            metrics,
            instance: settings.instance,
            streams: Arc::new(tokio::sync::Semaphore::new(settings.max_streams)),
            rate_limiter: crate::ratelimit::RateLimiter::new(settings.rate_limits),
            overload,
            rendered: crate::render::RenderMemo::default(),
        }))
    }
}

impl ApiSettings {
    /// The settings of the use-cases this api serves.
    pub fn service(&self) -> ServiceSettings {
        ServiceSettings {
            password_hashers: self.password_hashers,
            registrations: self.registrations,
            notifications: self.notifications,
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

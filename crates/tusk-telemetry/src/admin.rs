//! The admin port: `/healthz` (the process is alive), `/readyz` (it is not draining, and for a
//! worker its dependencies answer) and `/metrics`. Kept off the public port so that it is never
//! exposed.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::Metrics;

/// Checks one dependency; `Err` carries what is wrong, for the `/readyz` body.
pub type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// How long one dependency check may take: a PostgreSQL pool waits seconds for a connection
/// when the server is gone, and `/readyz` must answer within the probe's timeout (3 s in the
/// chart) whatever its dependencies do.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// What `/readyz` makes of a failed dependency check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDependencyDown {
    /// 503: without it the process has no work to do (a worker without its consumer), and a
    /// rollout should wait for it.
    NotReady,
    /// 200, naming the failure in the body: every replica shares the dependency, so taking this
    /// one out of its Service would turn the api's fast 503s with `Retry-After` (and the posts
    /// it still accepts into the outbox while RabbitMQ is down) into connection errors. The api.
    Report,
}

/// The named checks of a process, what a failure means, and whether it is draining: once
/// `draining` is cancelled, `/readyz` answers 503 for good, so that load balancers stop sending
/// work. The checks also feed `tusk_dependency_up` ([`Readiness::sample_into`]) either way.
#[derive(Clone)]
pub struct Readiness {
    checks: Vec<(&'static str, ReadinessCheck)>,
    on_down: OnDependencyDown,
    draining: CancellationToken,
}

impl Readiness {
    pub fn new(
        checks: Vec<(&'static str, ReadinessCheck)>,
        on_down: OnDependencyDown,
        draining: CancellationToken,
    ) -> Self {
        Self { checks, on_down, draining }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// Runs every check concurrently, each for at most [`CHECK_TIMEOUT`]; the failures, by name.
    pub async fn failures(&self) -> Vec<(&'static str, String)> {
        let results = futures_util::future::join_all(self.checks.iter().map(|(name, check)| {
            let check = check.clone();
            async move {
                let result = tokio::time::timeout(CHECK_TIMEOUT, check())
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())));
                (*name, result)
            }
        }))
        .await;
        results.into_iter().filter_map(|(name, result)| result.err().map(|e| (name, e))).collect()
    }
}

impl Readiness {
    /// Runs the checks every `interval` until `stop` and sets `tusk_dependency_up` from them,
    /// so that a dashboard shows what each replica reaches, not only what the last probe saw.
    pub async fn sample_into(self, metrics: Metrics, interval: std::time::Duration, stop: CancellationToken) {
        loop {
            let failures = self.failures().await;
            for (name, _) in &self.checks {
                let up = !failures.iter().any(|(failed, _)| failed == name);
                metrics.dependency_up.with_label_values(&[name]).set(i64::from(up));
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

#[derive(Clone)]
struct AdminState {
    metrics: Metrics,
    readiness: Readiness,
}

pub fn admin_router(metrics: Metrics, readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AdminState { metrics, readiness })
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    if state.readiness.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_owned());
    }
    let failures = state.readiness.failures().await;
    if failures.is_empty() {
        return (StatusCode::OK, "ok\n".to_owned());
    }
    let lines: Vec<String> = failures.iter().map(|(name, error)| format!("{name}: {error}\n")).collect();
    match state.readiness.on_down {
        OnDependencyDown::NotReady => (StatusCode::SERVICE_UNAVAILABLE, lines.concat()),
        OnDependencyDown::Report => (StatusCode::OK, format!("ok, degraded:\n{}", lines.concat())),
    }
}

async fn metrics_text(State(state): State<AdminState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use futures_util::FutureExt as _;
    use tower::ServiceExt as _;

    use super::*;

    fn down() -> (&'static str, ReadinessCheck) {
        ("rabbitmq", Arc::new(|| async { Err("not connected".to_owned()) }.boxed()))
    }

    async fn readyz(readiness: Readiness) -> (StatusCode, String) {
        let router = admin_router(Metrics::new().unwrap(), readiness);
        let response = router.oneshot(Request::get("/readyz").body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_dependency_down_is_reported_or_not_ready_as_asked_and_draining_always_wins() {
        let draining = CancellationToken::new();
        let api = Readiness::new(vec![down()], OnDependencyDown::Report, draining.clone());
        let worker = Readiness::new(vec![down()], OnDependencyDown::NotReady, draining.clone());
        assert_eq!(
            readyz(api.clone()).await,
            (StatusCode::OK, "ok, degraded:\nrabbitmq: not connected\n".into())
        );
        assert_eq!(
            readyz(worker.clone()).await,
            (StatusCode::SERVICE_UNAVAILABLE, "rabbitmq: not connected\n".into())
        );
        let healthy = Readiness::new(Vec::new(), OnDependencyDown::NotReady, draining.clone());
        assert_eq!(readyz(healthy.clone()).await, (StatusCode::OK, "ok\n".into()));
        draining.cancel();
        for readiness in [api, worker, healthy] {
            assert_eq!(readyz(readiness).await, (StatusCode::SERVICE_UNAVAILABLE, "draining\n".into()));
        }
    }
}

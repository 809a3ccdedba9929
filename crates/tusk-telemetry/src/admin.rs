//! The admin port: `/healthz` (the process is alive), `/readyz` (its dependencies answer and it
//! is not draining) and `/metrics`. Kept off the public port so that it is never exposed.

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

/// The named checks of a process, and whether it is draining: once `draining` is cancelled,
/// `/readyz` answers 503 for good, so that load balancers stop sending work.
#[derive(Clone)]
pub struct Readiness {
    checks: Vec<(&'static str, ReadinessCheck)>,
    draining: CancellationToken,
}

impl Readiness {
    pub fn new(checks: Vec<(&'static str, ReadinessCheck)>, draining: CancellationToken) -> Self {
        Self { checks, draining }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// Runs every check concurrently; the failures, by name.
    pub async fn failures(&self) -> Vec<(&'static str, String)> {
        let results = futures_util::future::join_all(self.checks.iter().map(|(name, check)| {
            let check = check.clone();
            async move { (*name, check().await) }
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
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        let lines: Vec<String> = failures.iter().map(|(name, error)| format!("{name}: {error}")).collect();
        let body = lines.join("\n") + "\n";
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}

async fn metrics_text(State(state): State<AdminState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

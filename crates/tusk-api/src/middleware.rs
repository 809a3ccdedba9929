//! Request metrics and spans by route pattern (never the raw path, which would explode the label
//! set, and whose query may hold an `access_token`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

use crate::AppState;

fn route(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned())
}

/// One span per request, named `{method} {route}` and continuing the caller's W3C trace context
/// (`traceparent`) if it sent one; every log line of the request carries its trace id.
pub(crate) async fn trace_request(request: Request, next: Next) -> Response {
    let route = route(&request);
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!(
        "http request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
    );
    tusk_telemetry::continue_trace(&span, |name| {
        request.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
    });
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

pub(crate) async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = route(&request);
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let metrics = &state.metrics;
    metrics.http_requests_in_flight.inc();
    let response = next.run(request).await;
    metrics.http_requests_in_flight.dec();
    metrics
        .http_request_duration_seconds
        .with_label_values(&[route.as_str(), method.as_str()])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .http_requests_total
        .with_label_values(&[route.as_str(), method.as_str(), response.status().as_str()])
        .inc();
    response
}

//! Middleware of every request: metrics and spans by route pattern (never the raw path, which
//! would explode the label set, and whose query may hold an `access_token`), CORS as Mastodon
//! sets it, and the security headers of every response.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower::{Layer as _, ServiceExt as _};
use tower_http::cors::{AllowHeaders, Any, CorsLayer};
use tracing::Instrument as _;

use crate::AppState;
use crate::route::Cors;

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

/// The content security policy of an HTML page that sets none itself: nothing loads, nothing
/// frames it, forms post only here.
const HTML_CSP: &str = "default-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// `X-Content-Type-Options: nosniff` on every response, so that no browser reads a JSON answer
/// as a page or a script; on HTML pages (the OAuth sign-in and authorize pages) a CSP, no
/// framing, Mastodon's `Referrer-Policy: same-origin` and `Cache-Control: no-store` (the pages
/// carry CSRF tokens), each unless the handler set its own (the authorize page's CSP names the
/// app's redirect URI). Token answers (`POST /oauth/token` and a sign-up) are never cached
/// either, as OAuth (RFC 6749 5.1) asks.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let gives_token = crate::route::spec_of(&request).issues_tokens;
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if html {
        headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(HTML_CSP));
        headers.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
        headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("same-origin"));
    }
    if html || gives_token {
        headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    }
    if gives_token {
        headers.entry(header::PRAGMA).or_insert(HeaderValue::from_static("no-cache"));
    }
    response
}

/// CORS as Mastodon's `config/initializers/cors.rb` sets it (rack-cors): any origin, no
/// credentials, the requested headers allowed (a wildcard would not cover `Authorization`),
/// preflights cached for rack-cors' 2 hours. The API takes every method and exposes the
/// pagination and rate-limit headers; the token endpoints take POST; the discovery documents
/// GET. Nothing else (the browser pages of `/oauth/authorize`) is open to other origins.
fn cors_layer(methods: &[Method]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(methods.to_vec())
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(Duration::from_hours(2))
}

static API_CORS: LazyLock<CorsLayer> = LazyLock::new(|| {
    use axum::http::HeaderName;
    cors_layer(&[Method::POST, Method::PUT, Method::DELETE, Method::GET, Method::PATCH, Method::OPTIONS])
        .expose_headers([
            header::LINK,
            HeaderName::from_static("x-ratelimit-reset"),
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-request-id"),
        ])
});
static TOKEN_CORS: LazyLock<CorsLayer> = LazyLock::new(|| cors_layer(&[Method::POST]));
static DISCOVERY_CORS: LazyLock<CorsLayer> = LazyLock::new(|| cors_layer(&[Method::GET]));

/// Applies the CORS rules declared with the route, outside the rate limits and the overload
/// limits: a preflight (`OPTIONS`) is answered here, counted by neither, and a 429 or a 503
/// carries the headers that let a browser app read it.
pub(crate) async fn cors(request: Request, next: Next) -> Response {
    let rules = match crate::route::spec_of(&request).cors {
        Cors::Api => &API_CORS,
        Cors::Token => &TOKEN_CORS,
        Cors::Discovery => &DISCOVERY_CORS,
        Cors::Closed => return next.run(request).await,
    };
    match rules.layer(next).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

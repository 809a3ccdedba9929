//! Overload protection. Every request belongs to a route class — sign-ups, sign-ins, other
//! writes, reads, streaming — and each class has its own concurrency limit on this replica. A
//! request that finds its class full is answered at once with 503 and `Retry-After` (it is
//! shed), never queued: a flood of one kind of request, sign-ups in a surge, turns into fast 503s
//! for that kind while the other kinds keep their share of the replica, and memory stays bounded.
//!
//! Non-streaming requests also have a deadline (`TUSK_REQUEST_TIMEOUT_MS`): past it the work is
//! dropped and the client gets 503 with `Retry-After`, like a shed request. A server that cannot
//! answer in time is overloaded, which is what 503 says; 504 is a gateway's answer about its
//! upstream. A dropped handler leaves nothing half done: its transaction rolls back, and an event
//! written to the outbox is published by the relay. Streaming is never timed out (a stream is
//! long by design; `TUSK_STREAMING_MAX` bounds the streams), and its class limits the streams
//! being opened at once.
//!
//! Request bodies are limited too (`TUSK_MAX_BODY_BYTES`): a `Content-Length` over the limit is
//! refused with 413 before the body is read; a body without one is cut off at the limit by the
//! extractors (axum's `DefaultBodyLimit`, set in the router), which answer the same 413.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use prometheus::IntCounter;
use tokio::sync::Semaphore;
use tusk_telemetry::Metrics;

use crate::{ApiError, AppState};

/// What the client reads when its request is shed or timed out (with `Retry-After`).
const SHED: &str = "Too many requests of this kind are being served; retry shortly";
const TIMED_OUT: &str = "The request took too long to serve; retry shortly";

/// The kinds of request that get their own share of a replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RouteClass {
    /// Sign-ups: an argon2 hash each.
    Signup,
    /// Sign-ins: an argon2 check or a token each.
    Auth,
    /// Other writes.
    Write,
    /// Reads.
    Read,
    /// Opening a stream.
    Streaming,
}

impl RouteClass {
    pub(crate) const ALL: [Self; 5] = [Self::Signup, Self::Auth, Self::Write, Self::Read, Self::Streaming];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::Auth => "auth",
            Self::Write => "write",
            Self::Read => "read",
            Self::Streaming => "streaming",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Concurrency limits per route class (`TUSK_CONCURRENCY_*`; 0 is no limit), the deadline of a
/// non-streaming request (`TUSK_REQUEST_TIMEOUT_MS`; zero is none) and the largest request body
/// (`TUSK_MAX_BODY_BYTES`), per replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    pub signup: usize,
    pub auth: usize,
    pub write: usize,
    pub read: usize,
    pub streaming: usize,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    /// The largest body of an upload route (media, avatars): the largest file (a 99 MiB video)
    /// with its form around it.
    pub max_upload_bytes: usize,
}

impl Default for HttpLimits {
    /// Sign-ups and sign-ins are mostly argon2, whose own short line (see `passwords`) is the
    /// tighter bound; reads get the most room. 30 s answers before an ingress gives up (nginx
    /// waits 60 s); 1 MiB is far above any JSON or form body of the API (a status is 500
    /// characters) and far below what would hurt a replica.
    fn default() -> Self {
        Self {
            signup: 16,
            auth: 32,
            write: 256,
            read: 512,
            streaming: 128,
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            max_upload_bytes: 100 * 1024 * 1024,
        }
    }
}

impl HttpLimits {
    fn concurrency(&self, class: RouteClass) -> usize {
        let limit = match class {
            RouteClass::Signup => self.signup,
            RouteClass::Auth => self.auth,
            RouteClass::Write => self.write,
            RouteClass::Read => self.read,
            RouteClass::Streaming => self.streaming,
        };
        if limit == 0 { Semaphore::MAX_PERMITS } else { limit }
    }
}

/// The limits of one replica and their counters.
pub(crate) struct Overload {
    /// Permits per class, indexed by [`RouteClass::index`].
    permits: [Semaphore; 5],
    shed: [IntCounter; 5],
    timeouts: [IntCounter; 5],
    timeout: Option<Duration>,
    pub(crate) max_body_bytes: usize,
    max_upload_bytes: usize,
}

impl Overload {
    pub(crate) fn new(limits: &HttpLimits, metrics: &Metrics) -> Self {
        // every class's series exists from the start, at zero
        let counter =
            |vec: &prometheus::IntCounterVec, class: RouteClass| vec.with_label_values(&[class.name()]);
        Self {
            permits: RouteClass::ALL.map(|class| Semaphore::new(limits.concurrency(class))),
            shed: RouteClass::ALL.map(|class| counter(&metrics.http_shed_total, class)),
            timeouts: RouteClass::ALL.map(|class| counter(&metrics.http_timeouts_total, class)),
            timeout: Some(limits.request_timeout).filter(|t| !t.is_zero()),
            max_body_bytes: limits.max_body_bytes,
            max_upload_bytes: limits.max_upload_bytes,
        }
    }

    /// Serves `work` within `class`'s limit and deadline: 503 at once when the class is full,
    /// 503 when the deadline passes first.
    async fn serve(&self, class: RouteClass, work: impl Future<Output = Response>) -> Response {
        let Ok(_permit) = self.permits[class.index()].try_acquire() else {
            self.shed[class.index()].inc();
            return ApiError::Overloaded(SHED).into_response();
        };
        let deadline = self.timeout.filter(|_| class != RouteClass::Streaming);
        let Some(deadline) = deadline else { return work.await };
        if let Ok(response) = tokio::time::timeout(deadline, work).await {
            response
        } else {
            self.timeouts[class.index()].inc();
            tracing::warn!(class = class.name(), "request timed out");
            ApiError::Overloaded(TIMED_OUT).into_response()
        }
    }
}

/// The middleware: the body size check, then the request's class limit and deadline.
pub(crate) async fn protect(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let overload = &state.overload;
    let spec = crate::route::spec_of(&request);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let limit = if spec.uploads { overload.max_upload_bytes } else { overload.max_body_bytes };
    if declared.is_some_and(|length| length > limit as u64) {
        return ApiError::PayloadTooLarge.into_response();
    }
    // an upload route's body is cut at its own limit (its routes have no `DefaultBodyLimit`):
    // reading past it fails, and the extractors answer 413
    let request = if spec.uploads {
        request.map(|body| axum::body::Body::new(http_body_util::Limited::new(body, limit)))
    } else {
        request
    };
    match spec.class {
        Some(class) => overload.serve(class, next.run(request)).await,
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn overload(limits: HttpLimits) -> (Overload, Metrics) {
        let metrics = Metrics::new().unwrap();
        (Overload::new(&limits, &metrics), metrics)
    }

    fn ok() -> std::future::Ready<Response> {
        std::future::ready(StatusCode::OK.into_response())
    }

    #[tokio::test]
    async fn a_full_class_sheds_at_once_and_only_that_class() {
        let (overload, metrics) = overload(HttpLimits { signup: 1, ..HttpLimits::default() });
        // a sign-up that holds the class's only permit until released
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let first = overload.serve(RouteClass::Signup, async {
            let _ = started.send(());
            let _ = held.await;
            ok().await
        });
        let rest = async {
            running.await.unwrap();
            let shed = overload.serve(RouteClass::Signup, ok()).await;
            assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(shed.headers()[header::RETRY_AFTER], "5");
            // reads are not held up by the sign-ups
            assert_eq!(overload.serve(RouteClass::Read, ok()).await.status(), StatusCode::OK);
            release.send(()).unwrap();
        };
        let (first, ()) = tokio::join!(first, rest);
        assert_eq!(first.status(), StatusCode::OK);
        // the permit came back with the answer
        assert_eq!(overload.serve(RouteClass::Signup, ok()).await.status(), StatusCode::OK);
        assert_eq!(metrics.http_shed_total.with_label_values(&["signup"]).get(), 1);
        assert_eq!(metrics.http_shed_total.with_label_values(&["read"]).get(), 0);
        assert!(metrics.render().contains("tusk_http_shed_total{class=\"streaming\"} 0"));
    }

    #[tokio::test]
    async fn past_the_deadline_is_503_but_streaming_has_none() {
        let limits = HttpLimits { request_timeout: Duration::from_millis(10), ..HttpLimits::default() };
        let (overload, metrics) = overload(limits);
        let never = overload.serve(RouteClass::Read, std::future::pending()).await;
        assert_eq!(never.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(metrics.http_timeouts_total.with_label_values(&["read"]).get(), 1);
        // a stream is not cut: it is still pending when a much later timer fires
        let stream = overload.serve(RouteClass::Streaming, std::future::pending());
        let outcome = tokio::time::timeout(Duration::from_millis(100), stream).await;
        assert!(outcome.is_err(), "a stream was answered: {outcome:?}");
        assert_eq!(metrics.http_timeouts_total.with_label_values(&["streaming"]).get(), 0);
    }

    /// A body without `Content-Length` is cut at the limit by the extractors, which answer 413
    /// in JSON whatever the body's type.
    #[tokio::test]
    async fn a_body_past_the_limit_is_413_json_from_the_extractors() {
        use axum::body::Body;
        use tower::ServiceExt as _;

        use crate::extract::Params;

        let router = axum::Router::new()
            .route("/", axum::routing::post(|Params(_): Params<serde_json::Value>| async { "ok" }))
            .layer(axum::extract::DefaultBodyLimit::max(64));
        let big = "x".repeat(100);
        for (content_type, body) in [
            ("application/json", format!("{{\"status\":\"{big}\"}}")),
            ("application/x-www-form-urlencoded", format!("status={big}")),
            (
                "multipart/form-data; boundary=b",
                format!("--b\r\nContent-Disposition: form-data; name=\"status\"\r\n\r\n{big}\r\n--b--\r\n"),
            ),
        ] {
            // a stream, so that no length is known before the body is read
            let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(body)]);
            let request = Request::post("/")
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from_stream(chunks))
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{content_type}");
            let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"], "The request body is too large", "{content_type}");
        }
        // within the limit, served
        let request = Request::post("/")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{\"status\":\"hi\"}"))
            .unwrap();
        assert_eq!(router.oneshot(request).await.unwrap().status(), StatusCode::OK);
    }

    #[test]
    fn zero_is_no_limit() {
        let limits = HttpLimits { read: 0, ..HttpLimits::default() };
        assert_eq!(limits.concurrency(RouteClass::Read), Semaphore::MAX_PERMITS);
        assert_eq!(limits.concurrency(RouteClass::Signup), 16);
    }
}

//! The public HTTP API: the hot paths of Mastodon's client API, stateless, so that any replica
//! serves any request. Start from [`router`] to find an endpoint.

mod entities;
mod error;
mod extract;
mod handlers;
mod middleware;
mod openapi;
mod overload;
mod pagination;
mod ratelimit;
mod render;
mod route;
mod router;
mod state;
mod timeline;

use std::future::Future;

pub use error::ApiError;
pub use openapi::routes;
pub use overload::HttpLimits;
pub use ratelimit::{Limit, RateLimits, TrustedProxies};
pub use router::router;
pub use state::{ApiSettings, AppState};

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use tower::Layer as _;
    // `/api/v1/instance/` is `/api/v1/instance`, as Rails routes it (Mastodon.py asks so);
    // this has to run before routing, so it wraps the router rather than being one of its layers
    let router = tower_http::normalize_path::NormalizePathLayer::trim_trailing_slash().layer(router);
    // the peer's address, for rate limits by client IP
    let service = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
        std::net::SocketAddr,
    >(router);
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await
}

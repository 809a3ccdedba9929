//! The public HTTP API: the hot paths of Mastodon's client API, stateless, so that any replica
//! serves any request. Start from [`router`] to find an endpoint.

mod entities;
mod error;
mod extract;
mod handlers;
mod middleware;
mod passwords;
mod publish;
mod router;
mod state;
mod timeline;

use std::future::Future;

pub use error::ApiError;
pub use passwords::password_hasher;
pub use router::router;
pub use state::{ApiSettings, AppState};

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

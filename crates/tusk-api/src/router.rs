//! Every public route, pointing at `handlers::<resource>::<action>`.

use axum::Router;
use axum::routing::{get, post};

use crate::handlers::{accounts, apps, instance, oauth, statuses, streaming, timelines};
use crate::{AppState, middleware};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/instance", get(instance::v1))
        .route("/api/v2/instance", get(instance::v2))
        .route("/api/v1/apps", post(apps::create))
        .route("/oauth/token", post(oauth::token))
        .route("/api/v1/accounts", post(accounts::create))
        .route("/api/v1/accounts/verify_credentials", get(accounts::verify_credentials))
        .route("/api/v1/accounts/{id}", get(accounts::show))
        .route("/api/v1/accounts/{id}/follow", post(accounts::follow))
        .route("/api/v1/accounts/{id}/unfollow", post(accounts::unfollow))
        .route("/api/v1/accounts/{id}/block", post(accounts::block))
        .route("/api/v1/accounts/{id}/unblock", post(accounts::unblock))
        .route("/api/v1/accounts/{id}/mute", post(accounts::mute))
        .route("/api/v1/accounts/{id}/unmute", post(accounts::unmute))
        .route("/api/v1/statuses", post(statuses::create))
        .route("/api/v1/statuses/{id}", get(statuses::show).delete(statuses::delete))
        .route("/api/v1/timelines/home", get(timelines::home))
        .route("/api/v1/streaming", get(streaming::websocket))
        .route("/api/v1/streaming/health", get(streaming::health))
        .route("/api/v1/streaming/user", get(streaming::sse_user))
        .route("/api/v1/streaming/public", get(streaming::sse_public))
        .route("/api/v1/streaming/public/local", get(streaming::sse_public_local))
        // -- OAuth sign-in (authorize, revoke, metadata) --
        // -- statuses and timelines --
        // -- accounts --
        .fallback(|| async { crate::ApiError::NotFound })
        // metrics see every request, matched or not, with its final status
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::record_metrics))
        // one span per request (OpenTelemetry server span), so every log line of a request
        // carries its trace id
        .layer(axum::middleware::from_fn(middleware::trace_request))
        .with_state(state)
}

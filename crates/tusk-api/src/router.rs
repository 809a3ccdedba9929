//! Every public route, pointing at `handlers::<resource>::<action>`.

use axum::Router;
use axum::routing::{get, patch, post};

use crate::handlers::{
    accounts, apps, authorize, follow_requests, instance, oauth, statuses, streaming, timelines,
};
use crate::{AppState, middleware, ratelimit};

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
        .route("/oauth/authorize", get(authorize::show).post(authorize::decide))
        .route("/oauth/sign_in", post(authorize::sign_in))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/.well-known/oauth-authorization-server", get(oauth::metadata))
        // -- statuses and timelines --
        .route("/api/v1/timelines/public", get(timelines::public))
        .route("/api/v1/accounts/{id}/statuses", get(timelines::account_statuses))
        .route("/api/v1/statuses/{id}/context", get(statuses::context))
        .route("/api/v1/statuses/{id}/favourite", post(statuses::favourite))
        .route("/api/v1/statuses/{id}/unfavourite", post(statuses::unfavourite))
        .route("/api/v1/statuses/{id}/reblog", post(statuses::reblog))
        .route("/api/v1/statuses/{id}/unreblog", post(statuses::unreblog))
        // -- accounts --
        .route("/api/v1/accounts/lookup", get(accounts::lookup))
        .route("/api/v1/accounts/relationships", get(accounts::relationships))
        .route("/api/v1/accounts/update_credentials", patch(accounts::update_credentials))
        .route("/api/v1/accounts/{id}/followers", get(accounts::followers))
        .route("/api/v1/accounts/{id}/following", get(accounts::following))
        .route("/api/v1/follow_requests", get(follow_requests::index))
        .route("/api/v1/follow_requests/{id}/authorize", post(follow_requests::authorize))
        .route("/api/v1/follow_requests/{id}/reject", post(follow_requests::reject))
        // -- the OpenAPI document of every route here (openapi.rs) --
        .route("/api/openapi.json", get(crate::openapi::document))
        .fallback(|| async { crate::ApiError::NotFound })
        .method_not_allowed_fallback(|| async { crate::ApiError::MethodNotAllowed })
        // rate limits shared by every replica (Redis); inside the metrics, so 429s are counted
        .layer(axum::middleware::from_fn_with_state(state.clone(), ratelimit::rate_limit))
        // overload protection (overload.rs): each route class's concurrency limit and deadline,
        // checked before the rate limits' Redis round trip, so a shed request costs nothing;
        // bodies over TUSK_MAX_BODY_BYTES get 413
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::overload::protect))
        .layer(axum::extract::DefaultBodyLimit::max(state.overload.max_body_bytes))
        // CORS outside the limits: a preflight is never counted, a 429 or 503 is readable
        .layer(axum::middleware::from_fn(middleware::cors_by_path))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        // metrics see every request, matched or not, with its final status
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::record_metrics))
        // one span per request (OpenTelemetry server span), so every log line of a request
        // carries its trace id
        .layer(axum::middleware::from_fn(middleware::trace_request))
        .with_state(state)
}

//! Follow requests of a locked account (Mastodon's `/api/v1/follow_requests`): the account
//! lists the requests waiting for it and authorizes or rejects each. Only requests addressed to
//! the signed-in account can be seen or answered: any other is a 404, as in Mastodon.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use serde_json::Value;

use crate::entities::{Account, Relationship};
use crate::extract::{Auth, PathId, QueryParams};
use crate::handlers::accounts::{AccountPageParams, accounts_page, settle};
use crate::openapi::{ActionAnswers, BadRequest, Forbidden, Unauthorized, Unavailable, Unprocessable};
use crate::{ApiError, AppState};

/// `GET /api/v1/follow_requests`: the accounts asking to follow the signed-in account, newest
/// request first, with the `Link` header of the followers pages (cut by the request's id).
#[utoipa::path(
    get,
    path = "/api/v1/follow_requests",
    operation_id = "follow_requests_index",
    tag = "accounts",
    params(AccountPageParams),
    security(("OAuth2" = ["read:follows"])),
    responses(
        (status = 200, description = "The accounts asking to follow, newest request first", body = Vec<Account>,
            headers(("Link" = String, description = "`rel=\"next\"` (older, by `max_id`) when the page is full, `rel=\"prev\"` (newer, by `since_id`) when it is not empty"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn index(
    State(state): State<AppState>,
    auth: Auth,
    uri: Uri,
    QueryParams(params): QueryParams<AccountPageParams>,
) -> Result<Response, ApiError> {
    let me = auth.user("read:follows")?;
    let limit = params.limit();
    let page = state.store.follow_request_page(me, params.max_id(), params.since_id(), limit).await?;
    accounts_page(&state, &uri, &page, limit).await
}

/// `POST /api/v1/follow_requests/:account_id/authorize`: the request becomes a follow (the
/// follower's home gets this account's statuses, as after any follow); answers with the
/// Relationship to the follower.
#[utoipa::path(
    post,
    path = "/api/v1/follow_requests/{id}/authorize",
    operation_id = "follow_requests_authorize",
    tag = "accounts",
    params(("id" = String, Path, description = "The id of the account that asked to follow")),
    security(("OAuth2" = ["write:follows"])),
    responses(ActionAnswers<Relationship>)
)]
pub async fn authorize(
    State(state): State<AppState>,
    auth: Auth,
    PathId(follower): PathId,
) -> Result<Json<Value>, ApiError> {
    let me = auth.user("write:follows")?;
    let events = state.store.authorize_follow_request(me, follower).await?.into_iter().collect();
    settle(&state, me, follower, events, true).await
}

/// `POST /api/v1/follow_requests/:account_id/reject`: drops the request; answers with the
/// Relationship to the account that asked.
#[utoipa::path(
    post,
    path = "/api/v1/follow_requests/{id}/reject",
    operation_id = "follow_requests_reject",
    tag = "accounts",
    params(("id" = String, Path, description = "The id of the account that asked to follow")),
    security(("OAuth2" = ["write:follows"])),
    responses(ActionAnswers<Relationship>)
)]
pub async fn reject(
    State(state): State<AppState>,
    auth: Auth,
    PathId(follower): PathId,
) -> Result<Json<Value>, ApiError> {
    let me = auth.user("write:follows")?;
    state.store.reject_follow_request(me, follower).await?;
    settle(&state, me, follower, Vec::new(), false).await
}

//! Follow requests of a locked account (Mastodon's `/api/v1/follow_requests`): the account
//! lists the requests waiting for it and authorizes or rejects each. Only requests addressed to
//! the signed-in account can be seen or answered: any other is a 404, as in Mastodon.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;

use crate::entities::{Account, Relationship};
use crate::error::{ActionAnswers, BadRequest, Forbidden, Unauthorized, Unavailable, Unprocessable};
use crate::extract::{PathId, QueryParams, User};
use crate::pagination::{AccountPageParams, accounts_page};
use crate::{ApiError, AppState};

/// `GET /api/v1/follow_requests`: the accounts asking to follow the signed-in account, newest
/// request first, with the `Link` header of the followers pages (cut by the request's id).
#[utoipa::path(
    get,
    path = "/api/v1/follow_requests",
    operation_id = "follow_requests_index",
    tag = "accounts",
    params(AccountPageParams),
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
    User { account: me, .. }: User,
    uri: Uri,
    QueryParams(params): QueryParams<AccountPageParams>,
) -> Result<Response, ApiError> {
    let cut = params.cut();
    let page = state.service.follow_requests(me, cut).await?;
    Ok(accounts_page(&state.instance, &uri, &page, cut.limit))
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
    responses(ActionAnswers<Relationship>)
)]
pub async fn authorize(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(follower): PathId,
) -> Result<Json<Relationship>, ApiError> {
    Ok(Json(Relationship::new(follower, state.service.authorize_follow_request(me, follower).await?)))
}

/// `POST /api/v1/follow_requests/:account_id/reject`: drops the request; answers with the
/// Relationship to the account that asked.
#[utoipa::path(
    post,
    path = "/api/v1/follow_requests/{id}/reject",
    operation_id = "follow_requests_reject",
    tag = "accounts",
    params(("id" = String, Path, description = "The id of the account that asked to follow")),
    responses(ActionAnswers<Relationship>)
)]
pub async fn reject(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(follower): PathId,
) -> Result<Json<Relationship>, ApiError> {
    Ok(Json(Relationship::new(follower, state.service.reject_follow_request(me, follower).await?)))
}

//! Follow requests of a locked account (Mastodon's `/api/v1/follow_requests`): the account
//! lists the requests waiting for it and authorizes or rejects each. Only requests addressed to
//! the signed-in account can be seen or answered: any other is a 404, as in Mastodon.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use tusk_core::Id;
use utoipa::IntoParams;

use crate::entities::{Account, Relationship};
use crate::extract::{Auth, PathId, QueryParams, lenient};
use crate::handlers::accounts::settle;
use crate::openapi::{BadRequest, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable};
use crate::{ApiError, AppState, pagination};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Requests older than this one (the `Link` header's `next`).
    #[serde(default, deserialize_with = "lenient::id_opt")]
    #[param(value_type = Option<String>, pattern = "^[0-9]+$")]
    max_id: Option<Id>,
    /// Requests newer than this one (the `Link` header's `prev`).
    #[serde(default, deserialize_with = "lenient::id_opt")]
    #[param(value_type = Option<String>, pattern = "^[0-9]+$")]
    since_id: Option<Id>,
    /// Accounts per page: 40 unless asked, at most 80.
    #[serde(default, deserialize_with = "lenient::int_opt")]
    #[param(minimum = 1, maximum = 80)]
    limit: Option<i64>,
}

/// Accounts per page: 40 unless asked, at most 80 (Mastodon's `DEFAULT_ACCOUNTS_LIMIT`).
const ACCOUNTS_LIMIT: i64 = 40;

/// `GET /api/v1/follow_requests`: the accounts asking to follow the signed-in account, newest
/// request first, with the `Link` header of the followers pages (cut by the request's id).
#[utoipa::path(
    get,
    path = "/api/v1/follow_requests",
    operation_id = "follow_requests_index",
    tag = "accounts",
    params(PageParams),
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
    QueryParams(params): QueryParams<PageParams>,
) -> Result<Response, ApiError> {
    let me = auth.user("read:follows")?;
    let limit = params.limit.map_or(ACCOUNTS_LIMIT, |l| l.clamp(1, 2 * ACCOUNTS_LIMIT));
    let page = state.store.follow_request_page(me, params.max_id, params.since_id, limit).await?;
    let account_ids: Vec<Id> = page.iter().map(|(_, account)| *account).collect();
    let rows: HashMap<Id, tusk_store::AccountRow> =
        state.load_accounts(&account_ids).await?.into_iter().map(|a| (a.id, a)).collect();
    let accounts: Vec<Account> =
        account_ids.iter().filter_map(|a| Some(Account::new(&state.instance, rows.get(a)?))).collect();
    let mut links = Vec::new();
    if let Some((last, _)) = page.last()
        && i64::try_from(page.len()).is_ok_and(|n| n == limit)
    {
        links.push(("next", "max_id", *last));
    }
    if let Some((first, _)) = page.first() {
        links.push(("prev", "since_id", *first));
    }
    let url = format!("{}{}", state.instance.base_url(), uri.path());
    let mut response = Json(accounts).into_response();
    if let Some(link) = pagination::rel_links(&url, uri.query(), &["limit"], &links) {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
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
    responses(
        (status = 200, description = "The relationship to that account afterwards", body = Relationship),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
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
    responses(
        (status = 200, description = "The relationship to that account afterwards", body = Relationship),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
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

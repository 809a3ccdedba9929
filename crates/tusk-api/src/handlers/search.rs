//! Search: `GET /api/v2/search` (accounts and hashtags; statuses come with full-text search)
//! and `GET /api/v1/accounts/search`, as apps call them for @-autocomplete and `toot follow`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use tusk_service::AccountQuery;
use utoipa::{IntoParams, ToSchema};

use crate::entities::{Account, Status, Tag};
use crate::error::{BadRequest, Forbidden, Unauthorized, Unavailable, Unprocessable};
use crate::extract::{QueryParams, User, Viewer, lenient};
use crate::{ApiError, AppState};

/// How deep a search pages: far past what autocomplete reads, and a bound on the work.
const MAX_OFFSET: i64 = 10_000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// What to look for: a username or display name prefix (`@name@domain` works too), or a
    /// hashtag.
    #[serde(default)]
    q: String,
    /// `accounts`, `hashtags` or `statuses`; all of them unless asked.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Accepted; only this server's accounts are known so far.
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    resolve: Option<bool>,
    /// Only accounts the searcher follows.
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    following: Option<bool>,
    /// 20 unless asked, at most 40.
    #[serde(default, deserialize_with = "lenient::int_opt")]
    #[param(minimum = 1, maximum = 40)]
    limit: Option<i64>,
    #[serde(default, deserialize_with = "lenient::int_opt")]
    #[param(minimum = 0)]
    offset: Option<i64>,
}

/// What a search found.
#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    pub accounts: Vec<Account>,
    pub statuses: Vec<Status>,
    pub hashtags: Vec<Tag>,
}

/// `GET /api/v2/search`.
#[utoipa::path(
    get,
    path = "/api/v2/search",
    operation_id = "search_v2",
    tag = "search",
    params(SearchParams),
    responses(
        (status = 200, description = "Accounts (those the searcher follows first) and hashtags starting with the query", body = SearchResults),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    QueryParams(params): QueryParams<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    // as Mastodon: resolving and paging need a signed-in searcher
    if viewer.is_none() && (params.resolve.unwrap_or(false) || params.offset.unwrap_or(0) > 0) {
        return Err(ApiError::InvalidToken);
    }
    let wants = |kind: &str| params.kind.as_deref().is_none_or(|k| k.is_empty() || k == kind);
    let limit = params.limit.map_or(20, |n| n.clamp(1, 40));
    let offset = params.offset.unwrap_or(0).clamp(0, MAX_OFFSET);
    let accounts = if wants("accounts") {
        let query = AccountQuery {
            q: &params.q,
            domain: &state.instance.domain,
            following: params.following.unwrap_or(false),
            limit,
            offset,
        };
        let rows = state.service.search_accounts(viewer, query).await?;
        rows.iter().map(|row| Account::new(&state.instance, row)).collect()
    } else {
        Vec::new()
    };
    let hashtags = if wants("hashtags") && !params.q.trim_start().starts_with('@') {
        let names = state.service.search_hashtags(&params.q, limit, offset).await?;
        names.into_iter().map(|name| Tag::named(&state.instance, &name)).collect()
    } else {
        Vec::new()
    };
    Ok(Json(SearchResults { accounts, statuses: Vec::new(), hashtags }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountSearchParams {
    #[serde(default)]
    q: String,
    /// 40 unless asked, at most 80.
    #[serde(default, deserialize_with = "lenient::int_opt")]
    #[param(minimum = 1, maximum = 80)]
    limit: Option<i64>,
    #[serde(default, deserialize_with = "lenient::int_opt")]
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Accepted; only this server's accounts are known so far.
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    #[expect(dead_code, reason = "apps send it; it resolves nothing until federation")]
    resolve: Option<bool>,
    /// Only accounts the searcher follows.
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    following: Option<bool>,
}

/// `GET /api/v1/accounts/search`.
#[utoipa::path(
    get,
    path = "/api/v1/accounts/search",
    operation_id = "accounts_search",
    tag = "accounts",
    params(AccountSearchParams),
    responses(
        (status = 200, description = "Accounts whose username or display name starts with the query, those followed first", body = Vec<Account>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn accounts(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    QueryParams(params): QueryParams<AccountSearchParams>,
) -> Result<Json<Vec<Account>>, ApiError> {
    let query = AccountQuery {
        q: &params.q,
        domain: &state.instance.domain,
        following: params.following.unwrap_or(false),
        limit: params.limit.map_or(40, |n| n.clamp(1, 80)),
        offset: params.offset.unwrap_or(0).clamp(0, MAX_OFFSET),
    };
    let rows = state.service.search_accounts(Some(me), query).await?;
    Ok(Json(rows.iter().map(|row| Account::new(&state.instance, row)).collect()))
}

use axum::extract::{OriginalUri, State};
use axum::http::Uri;
use serde::Deserialize;
use tusk_core::Id;
use tusk_store::StatusList;
use utoipa::IntoParams;

use crate::entities::Status;
use crate::error::{BadRequest, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable};
use crate::extract::{PathId, QueryParams, User, Viewer, lenient};
use crate::pagination::{PageParams, TimelinePage};
use crate::timeline::AccountStatusesQuery;
use crate::{ApiError, AppState};

/// `GET /api/v1/timelines/home`.
#[utoipa::path(
    get,
    path = "/api/v1/timelines/home",
    operation_id = "timelines_home",
    tag = "timelines",
    params(PageParams),
    responses(
        (status = 200, description = "The home timeline: the user's statuses and those of the accounts they follow", body = Vec<Status>, headers(("Link" = String, description = "`rel=\"next\"` (older, by `max_id`) and `rel=\"prev\"` (newer, by `min_id`); absent on an empty page"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn home(
    State(state): State<AppState>,
    User { account, .. }: User,
    OriginalUri(uri): OriginalUri,
    QueryParams(page): QueryParams<PageParams>,
) -> Result<TimelinePage, ApiError> {
    let statuses = state.home_timeline(account, &page.range()).await?;
    Ok(TimelinePage::new(&state.instance, &uri, &["local", "limit"], statuses))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublicParams {
    #[serde(flatten)]
    #[param(ignore)]
    page: PageParams,
    /// `true` leaves nothing: every status here is local.
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    remote: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    only_media: Option<bool>,
}

/// `GET /api/v1/timelines/public`: every status here is local, so `local` changes nothing,
/// `remote` leaves nothing; `only_media` keeps the statuses with attachments.
#[utoipa::path(
    get,
    path = "/api/v1/timelines/public",
    operation_id = "timelines_public",
    tag = "timelines",
    params(PageParams, PublicParams),
    responses(
        (status = 200, description = "Public statuses of this server", body = Vec<Status>, headers(("Link" = String, description = "`rel=\"next\"` (older, by `max_id`) and `rel=\"prev\"` (newer, by `min_id`); absent on an empty page"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
pub async fn public(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    OriginalUri(uri): OriginalUri,
    QueryParams(params): QueryParams<PublicParams>,
) -> Result<TimelinePage, ApiError> {
    let statuses = if params.remote.unwrap_or(false) {
        Vec::new()
    } else {
        state.public_timeline(viewer, &params.page.range(), params.only_media.unwrap_or(false)).await?
    };
    Ok(TimelinePage::new(&state.instance, &uri, &["local", "remote", "limit", "only_media"], statuses))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountStatusesParams {
    #[serde(flatten)]
    #[param(ignore)]
    page: PageParams,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    exclude_replies: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    exclude_reblogs: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    pinned: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    only_media: Option<bool>,
    #[serde(default)]
    tagged: Option<String>,
}

/// `GET /api/v1/accounts/:id/statuses`: what the viewer may see of the account's statuses.
/// `pinned` leaves its pinned statuses, `only_media` those with attachments; Tusk has no
/// hashtag timelines yet: `tagged` leaves nothing.
#[utoipa::path(
    get,
    path = "/api/v1/accounts/{id}/statuses",
    operation_id = "accounts_statuses",
    tag = "accounts",
    params(("id" = String, Path, description = "An account id"), PageParams, AccountStatusesParams),
    responses(
        (status = 200, description = "The account's statuses that the viewer may see", body = Vec<Status>, headers(("Link" = String, description = "`rel=\"next\"` (older, by `max_id`) and `rel=\"prev\"` (newer, by `min_id`); absent on an empty page"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn account_statuses(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    PathId(account): PathId,
    OriginalUri(uri): OriginalUri,
    QueryParams(params): QueryParams<AccountStatusesParams>,
) -> Result<TimelinePage, ApiError> {
    let query = AccountStatusesQuery {
        exclude_replies: params.exclude_replies.unwrap_or(false),
        exclude_reblogs: params.exclude_reblogs.unwrap_or(false),
        pinned: params.pinned.unwrap_or(false),
        only_media: params.only_media.unwrap_or(false),
        nothing: params.tagged.is_some_and(|t| !t.is_empty()),
    };
    let statuses = state.account_statuses(viewer, account, &query, &params.page.range()).await?;
    let kept = ["limit", "only_media", "exclude_replies", "exclude_reblogs", "pinned", "tagged"];
    Ok(TimelinePage::new(&state.instance, &uri, &kept, statuses))
}

/// `GET /api/v1/favourites`: what the signed-in account favourited, newest favourite first,
/// paged by the favourite's id (the `Link` header's ids are favourites', as Mastodon's).
#[utoipa::path(
    get,
    path = "/api/v1/favourites",
    operation_id = "favourites_index",
    tag = "timelines",
    params(PageParams),
    responses(
        (status = 200, description = "The statuses favourited, newest favourite first", body = Vec<Status>, headers(("Link" = String, description = "`rel=\"next\"` (older, by `max_id`) and `rel=\"prev\"` (newer, by `min_id`), favourite ids; absent on an empty page"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn favourites(
    State(state): State<AppState>,
    User { account, .. }: User,
    OriginalUri(uri): OriginalUri,
    QueryParams(page): QueryParams<PageParams>,
) -> Result<TimelinePage, ApiError> {
    kept(&state, account, StatusList::Favourites, &uri, &page).await
}

/// `GET /api/v1/bookmarks`: what the signed-in account bookmarked, newest bookmark first,
/// paged by the bookmark's id.
#[utoipa::path(
    get,
    path = "/api/v1/bookmarks",
    operation_id = "bookmarks_index",
    tag = "timelines",
    params(PageParams),
    responses(
        (status = 200, description = "The statuses bookmarked, newest bookmark first", body = Vec<Status>, headers(("Link" = String, description = "`rel=\"next\"` (older, by `max_id`) and `rel=\"prev\"` (newer, by `min_id`), bookmark ids; absent on an empty page"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn bookmarks(
    State(state): State<AppState>,
    User { account, .. }: User,
    OriginalUri(uri): OriginalUri,
    QueryParams(page): QueryParams<PageParams>,
) -> Result<TimelinePage, ApiError> {
    kept(&state, account, StatusList::Bookmarks, &uri, &page).await
}

async fn kept(
    state: &AppState,
    me: Id,
    list: StatusList,
    uri: &Uri,
    page: &PageParams,
) -> Result<TimelinePage, ApiError> {
    let kept = state.service.kept(me, list, &page.range()).await?;
    let statuses = state.render_views(&kept.statuses);
    Ok(TimelinePage::cut_by(&state.instance, uri, &["limit"], statuses, kept.cut))
}

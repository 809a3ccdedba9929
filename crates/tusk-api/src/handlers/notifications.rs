//! Notifications as Mastodon 4.3 serves them: one by one (`/api/v1/notifications`) and grouped
//! (`/api/v2/notifications`), with unread counts against the notifications marker; and the
//! markers themselves (`/api/v1/markers`). The workers write notifications; these only read,
//! dismiss and clear them.

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};
use tusk_core::{Id, NotificationType, PageRange};
use tusk_store::NotificationFilter;
use utoipa::IntoParams;

use crate::entities::{Empty, GroupedNotificationsResults, Markers, Notification, UnreadCount};
use crate::error::{ActionAnswers, BadRequest, Forbidden, Unauthorized, Unavailable, Unprocessable};
use crate::extract::{Params, PathId, PathKey, QueryParams, User, lenient};
use crate::pagination::{PageParams, rel_links};
use crate::{ApiError, AppState};

/// Notifications per page: 40 unless asked, at most 80 (Mastodon's `DEFAULT_NOTIFICATIONS_LIMIT`).
const DEFAULT_LIMIT: i64 = 40;
const MAX_LIMIT: i64 = 80;

/// Unread counts stop at 100 unless asked, at most 1,000.
const DEFAULT_UNREAD_LIMIT: i64 = 100;
const MAX_UNREAD_LIMIT: i64 = 1000;

/// The filters both versions take.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Only these types.
    #[serde(default, deserialize_with = "lenient::string_list")]
    #[param(rename = "types[]", style = Form, explode)]
    types: Vec<String>,
    /// Not these types.
    #[serde(default, deserialize_with = "lenient::string_list")]
    #[param(rename = "exclude_types[]", style = Form, explode)]
    exclude_types: Vec<String>,
    /// Only those from this account (v1).
    #[serde(default, deserialize_with = "lenient::id_opt")]
    #[param(value_type = Option<String>, pattern = "^[0-9]+$")]
    account_id: Option<Id>,
}

impl FilterParams {
    /// Unknown type names are left out, as Mastodon leaves them out; `types[]` naming only
    /// unknown ones keeps nothing.
    fn filter(&self) -> NotificationFilter {
        let known = |names: &[String]| -> Vec<String> {
            names.iter().filter(|n| NotificationType::parse(n).is_some()).cloned().collect()
        };
        NotificationFilter {
            types: (!self.types.is_empty()).then(|| known(&self.types)),
            exclude_types: known(&self.exclude_types),
            from_account: self.account_id,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationsParams {
    #[serde(flatten)]
    #[param(ignore)]
    filter: FilterParams,
    /// `max_id`, `since_id`, `min_id`, and `limit` (40 unless asked, at most 80).
    #[serde(flatten)]
    #[param(ignore)]
    page: PageParams,
    /// v2: the types that group (`favourite`, `follow` and `reblog` unless asked).
    #[serde(default, deserialize_with = "lenient::string_list")]
    #[param(rename = "grouped_types[]", style = Form, explode)]
    grouped_types: Vec<String>,
    /// v2: `full` (every sample account in `accounts`) or `partial_avatars`.
    expand_accounts: Option<String>,
}

impl NotificationsParams {
    fn range(&self) -> PageRange {
        self.page.range_with(DEFAULT_LIMIT, MAX_LIMIT)
    }
}

/// `Link` to the older page (by `max_id`) and the newer one (by `min_id`), repeating the
/// filters; none on an empty page.
fn with_links<T: serde::Serialize>(state: &AppState, uri: &Uri, body: T, ends: Option<(Id, Id)>) -> Response {
    const KEPT: [&str; 6] =
        ["limit", "account_id", "types[]", "exclude_types[]", "grouped_types[]", "expand_accounts"];
    let mut response = Json(body).into_response();
    let url = format!("{}{}", state.instance.base_url(), uri.path());
    if let Some((first, last)) = ends
        && let Some(link) =
            rel_links(&url, uri.query(), &KEPT, &[("next", "max_id", last), ("prev", "min_id", first)])
    {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

/// `GET /api/v1/notifications`.
#[utoipa::path(
    get,
    path = "/api/v1/notifications",
    operation_id = "notifications_index",
    tag = "notifications",
    params(NotificationsParams, PageParams, FilterParams),
    responses(
        (status = 200, description = "The signed-in account's notifications, newest first", body = Vec<Notification>,
            headers(("Link" = String, description = "`rel=\"next\"` (older, by `max_id`) and `rel=\"prev\"` (newer, by `min_id`); absent on an empty page"))),
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
    OriginalUri(uri): OriginalUri,
    QueryParams(params): QueryParams<NotificationsParams>,
) -> Result<Response, ApiError> {
    let views = state.service.notifications(me, &params.filter.filter(), &params.range()).await?;
    let rendered = state.render_notifications(&views);
    let ends = rendered.first().zip(rendered.last()).map(|(first, last)| (first.id, last.id));
    Ok(with_links(&state, &uri, rendered, ends))
}

/// `GET /api/v1/notifications/:id`.
#[utoipa::path(
    get,
    path = "/api/v1/notifications/{id}",
    operation_id = "notifications_show",
    tag = "notifications",
    params(("id" = String, Path, description = "A notification id")),
    responses(ActionAnswers<Notification>)
)]
pub async fn show(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(id): PathId,
) -> Result<Json<Notification>, ApiError> {
    let view = state.service.notification(me, id).await?;
    state.render_notifications(&[view]).pop().map(Json).ok_or(ApiError::NotFound)
}

/// `POST /api/v1/notifications/:id/dismiss`.
#[utoipa::path(
    post,
    path = "/api/v1/notifications/{id}/dismiss",
    operation_id = "notifications_dismiss",
    tag = "notifications",
    params(("id" = String, Path, description = "A notification id")),
    responses(ActionAnswers<Empty>)
)]
pub async fn dismiss(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(id): PathId,
) -> Result<Json<Empty>, ApiError> {
    state.service.dismiss_notification(me, id).await?;
    Ok(Json(Empty {}))
}

/// `POST /api/v1/notifications/clear`.
#[utoipa::path(
    post,
    path = "/api/v1/notifications/clear",
    operation_id = "notifications_clear",
    tag = "notifications",
    responses(ActionAnswers<Empty>)
)]
pub async fn clear(
    State(state): State<AppState>,
    User { account: me, .. }: User,
) -> Result<Json<Empty>, ApiError> {
    state.service.clear_notifications(me).await?;
    Ok(Json(Empty {}))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnreadParams {
    #[serde(flatten)]
    #[param(ignore)]
    filter: FilterParams,
    /// Counting stops here: 100 unless asked, at most 1,000.
    #[serde(default, deserialize_with = "lenient::int_opt")]
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// v2: the types that group.
    #[serde(default, deserialize_with = "lenient::string_list")]
    #[param(rename = "grouped_types[]", style = Form, explode)]
    grouped_types: Vec<String>,
}

impl UnreadParams {
    fn limit(&self) -> i64 {
        self.limit.map_or(DEFAULT_UNREAD_LIMIT, |n| n.clamp(1, MAX_UNREAD_LIMIT))
    }
}

/// `GET /api/v1/notifications/unread_count`: notifications newer than the notifications marker.
#[utoipa::path(
    get,
    path = "/api/v1/notifications/unread_count",
    operation_id = "notifications_unread_count",
    tag = "notifications",
    params(UnreadParams, FilterParams),
    responses(ActionAnswers<UnreadCount>)
)]
pub async fn unread_count(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    QueryParams(params): QueryParams<UnreadParams>,
) -> Result<Json<UnreadCount>, ApiError> {
    let count = state.service.unread_notifications(me, &params.filter.filter(), params.limit()).await?;
    Ok(Json(UnreadCount { count }))
}

/// The types that group: the groupable ones among those asked, all of them unless asked.
fn grouped_types(asked: &[String]) -> Option<Vec<String>> {
    (!asked.is_empty()).then(|| {
        asked
            .iter()
            .filter(|name| NotificationType::parse(name).is_some_and(NotificationType::groupable))
            .cloned()
            .collect()
    })
}

/// `GET /api/v2/notifications`: the notifications grouped as Mastodon 4.3 groups them
/// (favourites and reblogs of one status, and follows, within 12 hours), each group once at
/// its newest notification, with the accounts and statuses they name.
#[utoipa::path(
    get,
    path = "/api/v2/notifications",
    operation_id = "notifications_v2_index",
    tag = "notifications",
    params(NotificationsParams, PageParams, FilterParams),
    responses(
        (status = 200, description = "A page of notification groups, newest first", body = GroupedNotificationsResults,
            headers(("Link" = String, description = "`rel=\"next\"` (older, by `max_id`) and `rel=\"prev\"` (newer, by `min_id`), cut by the groups' newest notifications; absent on an empty page"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn index_v2(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    OriginalUri(uri): OriginalUri,
    QueryParams(params): QueryParams<NotificationsParams>,
) -> Result<Response, ApiError> {
    let partial = expand_partial(params.expand_accounts.as_deref())?;
    // v2 has no `account_id`
    let filter = NotificationFilter { from_account: None, ..params.filter.filter() };
    let grouped = grouped_types(&params.grouped_types);
    let page = state.service.notification_groups(me, &filter, grouped.as_deref(), &params.range()).await?;
    let ends = page
        .groups
        .first()
        .zip(page.groups.last())
        .map(|(first, last)| (first.group.latest_notification_id, last.group.latest_notification_id));
    Ok(with_links(&state, &uri, state.render_groups(&page, partial), ends))
}

/// `expand_accounts`: `full` (the default) or `partial_avatars`; anything else is a 400, as in
/// Mastodon.
fn expand_partial(asked: Option<&str>) -> Result<bool, ApiError> {
    match asked {
        None | Some("" | "full") => Ok(false),
        Some("partial_avatars") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "Invalid value for 'expand_accounts': '{other}', allowed values are 'full' and 'partial_avatars'"
        ))),
    }
}

/// `GET /api/v2/notifications/:group_key`.
#[utoipa::path(
    get,
    path = "/api/v2/notifications/{group_key}",
    operation_id = "notifications_v2_show",
    tag = "notifications",
    params(("group_key" = String, Path, description = "A group's key")),
    responses(ActionAnswers<GroupedNotificationsResults>)
)]
pub async fn show_v2(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathKey(group_key): PathKey,
) -> Result<Json<GroupedNotificationsResults>, ApiError> {
    let group = state.service.notification_group(me, &group_key).await?;
    Ok(Json(state.render_groups(&group, false)))
}

/// `POST /api/v2/notifications/:group_key/dismiss`: every notification of the group goes; a
/// group gone already is no error.
#[utoipa::path(
    post,
    path = "/api/v2/notifications/{group_key}/dismiss",
    operation_id = "notifications_v2_dismiss",
    tag = "notifications",
    params(("group_key" = String, Path, description = "A group's key")),
    responses(ActionAnswers<Empty>)
)]
pub async fn dismiss_v2(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathKey(group_key): PathKey,
) -> Result<Json<Empty>, ApiError> {
    state.service.dismiss_notification_group(me, &group_key).await?;
    Ok(Json(Empty {}))
}

/// `GET /api/v2/notifications/unread_count`: groups with a notification newer than the marker.
#[utoipa::path(
    get,
    path = "/api/v2/notifications/unread_count",
    operation_id = "notifications_v2_unread_count",
    tag = "notifications",
    params(UnreadParams, FilterParams),
    responses(ActionAnswers<UnreadCount>)
)]
pub async fn unread_count_v2(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    QueryParams(params): QueryParams<UnreadParams>,
) -> Result<Json<UnreadCount>, ApiError> {
    let filter = NotificationFilter { from_account: None, ..params.filter.filter() };
    let grouped = grouped_types(&params.grouped_types);
    let count =
        state.service.unread_notification_groups(me, &filter, grouped.as_deref(), params.limit()).await?;
    Ok(Json(UnreadCount { count }))
}

/// The timelines that have markers.
const TIMELINES: [&str; 2] = ["home", "notifications"];

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MarkersParams {
    /// `home`, `notifications` or both.
    #[serde(default, deserialize_with = "lenient::string_list")]
    #[param(rename = "timeline[]", style = Form, explode)]
    timeline: Vec<String>,
}

/// `GET /api/v1/markers`: the markers asked that exist, by timeline.
#[utoipa::path(
    get,
    path = "/api/v1/markers",
    operation_id = "markers_index",
    tag = "markers",
    params(MarkersParams),
    responses(ActionAnswers<Markers>)
)]
pub async fn markers(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    QueryParams(params): QueryParams<MarkersParams>,
) -> Result<Json<Markers>, ApiError> {
    let asked: Vec<&str> = TIMELINES.into_iter().filter(|t| params.timeline.iter().any(|a| a == t)).collect();
    let rows = if asked.is_empty() { Vec::new() } else { state.service.markers(me, &asked).await? };
    Ok(Json(Markers::new(&rows)))
}

/// `POST /api/v1/markers`: `home[last_read_id]` and `notifications[last_read_id]` (as a form,
/// or `{"home": {"last_read_id": …}}` as JSON); answers the markers set.
#[utoipa::path(
    post,
    path = "/api/v1/markers",
    operation_id = "markers_create",
    tag = "markers",
    responses(ActionAnswers<Markers>)
)]
pub async fn save_markers(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    Params(body): Params<Map<String, Value>>,
) -> Result<Json<Markers>, ApiError> {
    let mut asked = Vec::new();
    for timeline in TIMELINES {
        let nested = body.get(timeline).and_then(|t| t.get("last_read_id"));
        let flat = body.get(&format!("{timeline}[last_read_id]"));
        let Some(raw) = nested.or(flat) else { continue };
        let id = match raw {
            Value::String(s) => s.trim().parse::<Id>().ok(),
            Value::Number(n) => n.as_i64().filter(|n| *n > 0).map(Id),
            _ => None,
        }
        .ok_or_else(|| ApiError::Unprocessable("Validation failed: Last read can't be blank".into()))?;
        asked.push((timeline, id));
    }
    let rows = if asked.is_empty() { Vec::new() } else { state.service.save_markers(me, &asked).await? };
    Ok(Json(Markers::new(&rows)))
}

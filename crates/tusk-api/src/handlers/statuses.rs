use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use tusk_core::{Id, StatusText, Visibility};
use utoipa::ToSchema;

use crate::entities::{Context, Status};
use crate::error::{
    ActionAnswers, BadRequest, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable,
    UnsupportedMediaType,
};
use crate::extract::{IdsParams, Params, PathId, QueryParams, User, Viewer, lenient};
use crate::{ApiError, AppState};
use tusk_service::NewPost;

#[derive(Deserialize, ToSchema)]
pub struct CreateStatus {
    /// The text: at most 500 characters, counted as Mastodon counts them.
    #[serde(default)]
    #[schema(required, example = "Hello, world")]
    status: String,
    /// The account's default (`/api/v1/preferences`) unless given.
    #[schema(example = "public")]
    visibility: Option<String>,
    /// A content warning.
    #[serde(default)]
    spoiler_text: String,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    sensitive: Option<bool>,
    /// A language code, e.g. `en`.
    language: Option<String>,
    /// The status this one replies to.
    #[serde(default, deserialize_with = "lenient::id_opt")]
    #[schema(value_type = Option<String>, pattern = "^[0-9]+$")]
    in_reply_to_id: Option<Id>,
    /// Attachments: up to 4 of one's own processed, unattached uploads, in this order. An
    /// unknown, foreign, attached or unfinished id is a 422, and nothing is posted.
    #[serde(default, deserialize_with = "lenient::id_list")]
    #[schema(value_type = Option<Vec<String>>)]
    media_ids: Vec<Id>,
    /// A poll. Not supported yet: refused with 422, nothing posted.
    #[schema(value_type = Option<Object>)]
    poll: Option<serde_json::Value>,
    /// A poll's options as a form sends them (`poll[options][]`): refused like `poll`.
    #[serde(rename = "poll[options]")]
    #[schema(value_type = Option<Vec<String>>)]
    poll_options: Option<serde_json::Value>,
    /// When to publish. Not supported yet: refused with 422 rather than published at once.
    #[schema(value_type = Option<String>, format = DateTime)]
    scheduled_at: Option<serde_json::Value>,
}

impl CreateStatus {
    /// What the request asks that Tusk cannot do yet, as the 422's message.
    fn unsupported(&self) -> Option<&'static str> {
        let given = |value: &Option<serde_json::Value>| match value {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Array(list)) => !list.is_empty(),
            Some(serde_json::Value::String(text)) => !text.trim().is_empty(),
            Some(_) => true,
        };
        if given(&self.poll) || given(&self.poll_options) {
            Some("Polls are not supported on this server yet")
        } else if given(&self.scheduled_at) {
            Some("Scheduled statuses are not supported on this server yet")
        } else {
            None
        }
    }
}

/// `POST /api/v1/statuses`: stores the status with its event (and its `Idempotency-Key`) in one
/// transaction, then publishes the event; fan-out happens in the workers. With an
/// `Idempotency-Key`, a retry within the hour gets the status the first request created, on any
/// replica, even when that request's replica died after its commit.
#[utoipa::path(
    post,
    path = "/api/v1/statuses",
    operation_id = "statuses_create",
    tag = "statuses",
    request_body(content(
        (CreateStatus = "application/json"),
        (CreateStatus = "application/x-www-form-urlencoded"),
        (CreateStatus = "multipart/form-data"),
    )),
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key within the hour gets the status the first request created")),
    responses(
        (status = 200, description = "The new status", body = Status),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    Params(params): Params<CreateStatus>,
) -> Result<Json<Status>, ApiError> {
    if let Some(unsupported) = params.unsupported() {
        return Err(ApiError::Unprocessable(unsupported.into()));
    }
    let text =
        StatusText::parse_post(&params.status, params.spoiler_text.trim(), !params.media_ids.is_empty())
            .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let visibility = match params.visibility.as_deref().filter(|v| !v.is_empty()) {
        None => None,
        Some(raw) => Some(Visibility::parse(raw).map_err(ApiError::Unprocessable)?),
    };
    let status = state
        .service
        .post_status(NewPost {
            account: user.account,
            application: user.application,
            text,
            spoiler_text: params.spoiler_text.trim(),
            sensitive: params.sensitive,
            visibility,
            language: params.language.as_deref().filter(|l| !l.is_empty()),
            in_reply_to: params.in_reply_to_id,
            idempotency_key: idempotency_key(&headers),
            domain: &state.instance.domain,
            media_ids: &params.media_ids,
        })
        .await?;
    let author = state.load_account(status.account_id).await?;
    Ok(Json(Status::new(&state.instance, &status, &author)))
}

/// The sha256 of the request's `Idempotency-Key`, if it sent a non-blank one.
fn idempotency_key(headers: &HeaderMap) -> Option<Vec<u8>> {
    let key = headers.get("idempotency-key")?.as_bytes();
    if key.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(tusk_core::token::digest(&String::from_utf8_lossy(key)))
}

/// `GET /api/v1/statuses/:id`: public and unlisted statuses for anyone; private ones for the
/// author and followers; direct ones for the author.
#[utoipa::path(
    get,
    path = "/api/v1/statuses/{id}",
    operation_id = "statuses_show",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    responses(
        (status = 200, description = "The status", body = Status),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    state.visible_status(viewer, id).await?;
    Ok(Json(state.render_status(viewer, id).await?))
}

/// `DELETE /api/v1/statuses/:id`: only the author; answers with the deleted status and its
/// `text`, so that the client can offer "delete and redraft". The workers take it out of every
/// feed.
#[utoipa::path(
    delete,
    path = "/api/v1/statuses/{id}",
    operation_id = "statuses_delete",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    responses(
        (status = 200, description = "The deleted status, with its `text` (for delete and redraft)", body = Status),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let status = state.service.delete_status(me, id).await?;
    let author = state.load_account(me).await?;
    let mut rendered = Status::new(&state.instance, &status, &author);
    rendered.text = Some(status.text);
    Ok(Json(rendered))
}

/// `POST /api/v1/statuses/:id/favourite`.
#[utoipa::path(
    post,
    path = "/api/v1/statuses/{id}/favourite",
    operation_id = "statuses_favourite",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    responses(ActionAnswers<Status>)
)]
pub async fn favourite(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let favourited = state.service.favourite(me, id).await?;
    Ok(Json(state.render_status(Some(me), favourited).await?))
}

/// `POST /api/v1/statuses/:id/unfavourite`.
#[utoipa::path(
    post,
    path = "/api/v1/statuses/{id}/unfavourite",
    operation_id = "statuses_unfavourite",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    responses(ActionAnswers<Status>)
)]
pub async fn unfavourite(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let unfavourited = state.service.unfavourite(me, id).await?;
    Ok(Json(state.render_status(Some(me), unfavourited).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct ReblogParams {
    /// `public`, `unlisted` or `private`; `public` unless given.
    visibility: Option<String>,
}

/// `POST /api/v1/statuses/:id/reblog`: a status pointing at the original, fanned out like any
/// other. As Mastodon's `StatusPolicy#reblog?`: direct statuses never, private ones only by
/// their author (and the reblog stays private). Answers with the reblog, the original inside.
#[utoipa::path(
    post,
    path = "/api/v1/statuses/{id}/reblog",
    operation_id = "statuses_reblog",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    request_body(content(
        (ReblogParams = "application/json"),
        (ReblogParams = "application/x-www-form-urlencoded"),
        (ReblogParams = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "The reblog, with the original in `reblog`", body = Status),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn reblog(
    State(state): State<AppState>,
    user: User,
    PathId(id): PathId,
    Params(params): Params<ReblogParams>,
) -> Result<Json<Status>, ApiError> {
    let visibility = match params.visibility.as_deref().filter(|v| !v.is_empty()) {
        None => Visibility::Public,
        Some(raw) => Visibility::parse(raw).map_err(ApiError::Unprocessable)?,
    };
    let reblog = state.service.reblog(user.account, user.application, id, visibility).await?;
    Ok(Json(state.render_status(Some(user.account), reblog).await?))
}

/// `POST /api/v1/statuses/:id/unreblog`: answers with the original.
#[utoipa::path(
    post,
    path = "/api/v1/statuses/{id}/unreblog",
    operation_id = "statuses_unreblog",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    responses(
        (status = 200, description = "The original status afterwards", body = Status),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn unreblog(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let original = state.service.unreblog(me, id).await?;
    Ok(Json(state.render_status(Some(me), original).await?))
}

/// `GET /api/v1/statuses/:id/context`: the thread around a status, as far as the viewer may
/// see it.
#[utoipa::path(
    get,
    path = "/api/v1/statuses/{id}/context",
    operation_id = "statuses_context",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    responses(
        (status = 200, description = "The thread, as far as the viewer may see it", body = Context),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn context(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    PathId(id): PathId,
) -> Result<Json<Context>, ApiError> {
    let (ancestors, descendants) = state.service.thread(viewer, id).await?;
    let (ancestors, descendants) = tokio::join!(
        state.render_statuses_for(viewer, &ancestors),
        state.render_statuses_for(viewer, &descendants)
    );
    Ok(Json(Context { ancestors: ancestors?, descendants: descendants? }))
}

/// `POST /api/v1/statuses/:id/bookmark`: answers with the status, `bookmarked` true.
#[utoipa::path(
    post,
    path = "/api/v1/statuses/{id}/bookmark",
    operation_id = "statuses_bookmark",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    responses(ActionAnswers<Status>)
)]
pub async fn bookmark(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let bookmarked = state.service.bookmark(me, id).await?;
    Ok(Json(state.render_status(Some(me), bookmarked).await?))
}

/// `POST /api/v1/statuses/:id/unbookmark`.
#[utoipa::path(
    post,
    path = "/api/v1/statuses/{id}/unbookmark",
    operation_id = "statuses_unbookmark",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    responses(ActionAnswers<Status>)
)]
pub async fn unbookmark(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let unbookmarked = state.service.unbookmark(me, id).await?;
    Ok(Json(state.render_status(Some(me), unbookmarked).await?))
}

/// `POST /api/v1/statuses/:id/pin`: pins one of the caller's statuses to its profile (not a
/// reblog, not a direct one, at most five: 422 otherwise, as Mastodon's validator says).
#[utoipa::path(
    post,
    path = "/api/v1/statuses/{id}/pin",
    operation_id = "statuses_pin",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    responses(ActionAnswers<Status>)
)]
pub async fn pin(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let pinned = state.service.pin(me, id).await?;
    Ok(Json(state.render_status(Some(me), pinned).await?))
}

/// `POST /api/v1/statuses/:id/unpin`.
#[utoipa::path(
    post,
    path = "/api/v1/statuses/{id}/unpin",
    operation_id = "statuses_unpin",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    responses(ActionAnswers<Status>)
)]
pub async fn unpin(
    State(state): State<AppState>,
    User { account: me, .. }: User,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let unpinned = state.service.unpin(me, id).await?;
    Ok(Json(state.render_status(Some(me), unpinned).await?))
}

/// At most this many statuses per `GET /api/v1/statuses` (Mastodon's `DEFAULT_STATUSES_LIMIT`).
const STATUSES_PER_LOOKUP: usize = 20;

/// `GET /api/v1/statuses?id[]=…`: several statuses at once, those the viewer may see, in the
/// order asked; unknown and hidden ones are left out. More than 20 is a 422.
#[utoipa::path(
    get,
    path = "/api/v1/statuses",
    operation_id = "statuses_index",
    tag = "statuses",
    params(IdsParams),
    responses(
        (status = 200, description = "The statuses the viewer may see, in the order asked", body = Vec<Status>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn index(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    QueryParams(params): QueryParams<IdsParams>,
) -> Result<Json<Vec<Status>>, ApiError> {
    let ids = params.ids();
    if ids.len() > STATUSES_PER_LOOKUP {
        return Err(ApiError::Unprocessable(format!(
            "At most {STATUSES_PER_LOOKUP} statuses can be asked at once"
        )));
    }
    let visible = state.service.visible_ids(viewer, &ids).await?;
    Ok(Json(state.render_statuses_for(viewer, &visible).await?))
}

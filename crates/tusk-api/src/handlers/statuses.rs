use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use tusk_cache::EntityKind;
use tusk_core::{Id, StatusText, Visibility};
use tusk_store::{CreatedStatus, NewStatus, StatusRow};
use utoipa::ToSchema;

use crate::entities::{Context, Status};
use crate::extract::{Auth, Params, PathId, lenient};
use crate::openapi::{
    ActionAnswers, BadRequest, Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable,
    UnsupportedMediaType,
};
use crate::{ApiError, AppState};

#[derive(Deserialize, ToSchema)]
pub struct CreateStatus {
    /// The text: at most 500 characters, counted as Mastodon counts them.
    #[serde(default)]
    #[schema(required, example = "Hello, world")]
    status: String,
    /// `public` unless given.
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
    security(("OAuth2" = ["write:statuses"])),
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
    auth: Auth,
    headers: HeaderMap,
    Params(params): Params<CreateStatus>,
) -> Result<Json<Status>, ApiError> {
    let token = auth.token("write:statuses")?;
    let account_id = token.account_id.ok_or(ApiError::UserRequired)?;
    let text = StatusText::parse_with_spoiler(&params.status, params.spoiler_text.trim())
        .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let visibility = match params.visibility.as_deref().filter(|v| !v.is_empty()) {
        None => Visibility::default(),
        Some(raw) => Visibility::parse(raw).map_err(ApiError::Unprocessable)?,
    };
    // replying to what one cannot see is replying to nothing, as in Mastodon
    let parent = match params.in_reply_to_id {
        Some(parent) => Some(state.visible_status(Some(account_id), parent).await?),
        None => None,
    };
    let key = idempotency_key(&headers);
    let spoiler_text = params.spoiler_text.trim();
    let created = state
        .store
        .create_status(&NewStatus {
            account_id,
            text: &text,
            spoiler_text,
            sensitive: params.sensitive.unwrap_or(false) || !spoiler_text.is_empty(),
            visibility,
            language: params.language.as_deref().filter(|l| !l.is_empty()),
            in_reply_to: parent.as_ref(),
            application_id: Some(token.application_id),
            idempotency_key: key.as_deref(),
        })
        .await?;
    let (status, event) = match created {
        CreatedStatus::New(status, event) => (*status, event),
        // a retry: the original status (a 404 when it was deleted since, as in Mastodon)
        CreatedStatus::Existing(id) => {
            let status = state.load_statuses(&[id]).await?.pop().ok_or(ApiError::NotFound)?;
            let author = state.load_account(status.account_id).await?;
            return Ok(Json(Status::new(&state.instance, &status, &author)));
        }
    };
    state.metrics.statuses_created_total.inc();
    if let Err(error) = state.cache.put_entities(EntityKind::Status, &[(status.id, &status)]).await {
        tracing::warn!(%error, "new status not cached");
    }
    state.forget(EntityKind::Account, &[account_id]).await;
    if let Some(parent) = &parent {
        state.forget(EntityKind::StatusCounts, &[parent.id]).await;
    }
    // fault tests only (never in a release build): die between the commit and the publish
    #[cfg(feature = "fault-injection")]
    if std::env::var_os("TUSK_FAULT_CRASH_AFTER_COMMIT").is_some() {
        std::process::abort();
    }
    state.publish(event).await;
    let author = state.load_account(account_id).await?;
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
    security((), ("OAuth2" = [])),
    responses(
        (status = 200, description = "The status", body = Status),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let viewer = auth.viewer();
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
    security(("OAuth2" = ["write:statuses"])),
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
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let me = auth.user("write:statuses")?;
    let (status, event) = state.store.delete_status(me, id).await?;
    state.forget(EntityKind::Status, &[id]).await;
    // the counts it moved: its parent's replies, its original's reblogs
    let counted: Vec<Id> =
        [Some(id), status.in_reply_to_id, status.reblog_of_id].into_iter().flatten().collect();
    state.forget(EntityKind::StatusCounts, &counted).await;
    state.forget(EntityKind::Account, &[me]).await;
    state.publish(event).await;
    let author = state.load_account(me).await?;
    let mut rendered = Status::new(&state.instance, &status, &author);
    rendered.text = Some(status.text);
    Ok(Json(rendered))
}

/// The status an action on `id` acts on: the original when `id` is a reblog, as in Mastodon.
async fn target(state: &AppState, viewer: Id, id: Id) -> Result<StatusRow, ApiError> {
    let status = state.visible_status(Some(viewer), id).await?;
    match status.reblog_of_id {
        Some(original) => state.visible_status(Some(viewer), original).await,
        None => Ok(status),
    }
}

/// `POST /api/v1/statuses/:id/favourite`.
#[utoipa::path(
    post,
    path = "/api/v1/statuses/{id}/favourite",
    operation_id = "statuses_favourite",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    security(("OAuth2" = ["write:favourites"])),
    responses(ActionAnswers<Status>)
)]
pub async fn favourite(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let me = auth.user("write:favourites")?;
    let status = target(&state, me, id).await?;
    state.store.favourite(me, status.id).await?;
    state.forget(EntityKind::StatusCounts, &[status.id]).await;
    Ok(Json(state.render_status(Some(me), status.id).await?))
}

/// `POST /api/v1/statuses/:id/unfavourite`.
#[utoipa::path(
    post,
    path = "/api/v1/statuses/{id}/unfavourite",
    operation_id = "statuses_unfavourite",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    security(("OAuth2" = ["write:favourites"])),
    responses(ActionAnswers<Status>)
)]
pub async fn unfavourite(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let me = auth.user("write:favourites")?;
    let status = target(&state, me, id).await?;
    state.store.unfavourite(me, status.id).await?;
    state.forget(EntityKind::StatusCounts, &[status.id]).await;
    Ok(Json(state.render_status(Some(me), status.id).await?))
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
    security(("OAuth2" = ["write:statuses"])),
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
    auth: Auth,
    PathId(id): PathId,
    Params(params): Params<ReblogParams>,
) -> Result<Json<Status>, ApiError> {
    let token = auth.token("write:statuses")?;
    let me = token.account_id.ok_or(ApiError::UserRequired)?;
    let requested = match params.visibility.as_deref().filter(|v| !v.is_empty()) {
        None => Visibility::Public,
        Some(raw) => match Visibility::parse(raw).map_err(ApiError::Unprocessable)? {
            Visibility::Direct => return Err(ApiError::Unprocessable("Visibility is invalid".into())),
            other => other,
        },
    };
    let original = target(&state, me, id).await?;
    let visibility = match original.visibility() {
        Visibility::Direct => return Err(ApiError::Forbidden),
        Visibility::Private if original.account_id != me => return Err(ApiError::Forbidden),
        Visibility::Private => Visibility::Private,
        Visibility::Public | Visibility::Unlisted => requested,
    };
    let (reblog, event) = state.store.reblog(me, &original, visibility, Some(token.application_id)).await?;
    if let Some(event) = event {
        state.forget(EntityKind::Account, &[me]).await;
        state.forget(EntityKind::StatusCounts, &[original.id]).await;
        state.publish(event).await;
    }
    Ok(Json(state.render_status(Some(me), reblog.id).await?))
}

/// `POST /api/v1/statuses/:id/unreblog`: answers with the original.
#[utoipa::path(
    post,
    path = "/api/v1/statuses/{id}/unreblog",
    operation_id = "statuses_unreblog",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    security(("OAuth2" = ["write:statuses"])),
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
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let me = auth.user("write:statuses")?;
    let original = target(&state, me, id).await?;
    if let Some((reblog, event)) = state.store.unreblog(me, original.id).await? {
        state.forget(EntityKind::Status, &[reblog]).await;
        state.forget(EntityKind::Account, &[me]).await;
        state.forget(EntityKind::StatusCounts, &[reblog, original.id]).await;
        state.publish(event).await;
    }
    Ok(Json(state.render_status(Some(me), original.id).await?))
}

/// `GET /api/v1/statuses/:id/context`: the thread around a status, as far as the viewer may
/// see it.
#[utoipa::path(
    get,
    path = "/api/v1/statuses/{id}/context",
    operation_id = "statuses_context",
    tag = "statuses",
    params(("id" = String, Path, description = "A status id")),
    security((), ("OAuth2" = [])),
    responses(
        (status = 200, description = "The thread, as far as the viewer may see it", body = Context),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable),
    )
)]
pub async fn context(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Context>, ApiError> {
    let viewer = auth.viewer();
    state.visible_status(viewer, id).await?;
    let (ancestors, descendants) = state.store.thread(id).await?;
    let ancestors = state.visible_ids(viewer, &ancestors).await?;
    let descendants = state.visible_ids(viewer, &descendants).await?;
    let (ancestors, descendants) = tokio::join!(
        state.render_statuses_for(viewer, &ancestors),
        state.render_statuses_for(viewer, &descendants)
    );
    Ok(Json(Context { ancestors: ancestors?, descendants: descendants? }))
}

//! Uploads (`/api/v2/media`, `/api/v1/media`) and the media files themselves (`/system/...`,
//! the default pictures). The api checks an upload's bytes cheaply and stores them; the workers
//! process them (tusk-service's media.rs).

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tusk_service::{DESCRIPTION_LIMIT, Upload};
use utoipa::ToSchema;

use crate::entities::MediaAttachment;
use crate::error::{
    BadRequest, Forbidden, NotFound, PayloadTooLarge, Unauthorized, Unavailable, Unprocessable,
};
use crate::extract::{FileFields, PathId, User, WithFiles};
use crate::{ApiError, AppState};

/// How an upload endpoint answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// `/api/v2/media`: waits a moment for an image (most photos are done well within it, and
    /// apps then skip polling), but not for a video nor for busy workers; 202 when not done.
    Soon,
    /// `/api/v1/media`, synchronous for the apps that still call it: waits longer, always 200.
    Done,
}

impl Answer {
    fn budget(self, video: bool) -> Duration {
        match self {
            Self::Soon if video => Duration::ZERO,
            Self::Soon => Duration::from_secs(2),
            Self::Done => Duration::from_secs(25),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateMedia {
    /// The file: JPEG, PNG, WebP, GIF, HEIC (images up to 16 MB); MP4, WebM, MOV (videos up to
    /// 99 MB). Sent as a multipart file field.
    #[serde(default, skip)]
    #[schema(value_type = String, format = Binary)]
    #[allow(dead_code)]
    file: (),
    /// A custom preview image (for a video, instead of its first frame).
    #[serde(default, skip)]
    #[schema(value_type = Option<String>, format = Binary)]
    #[allow(dead_code)]
    thumbnail: (),
    /// The alt text, at most 1,500 characters.
    description: Option<String>,
    /// `x,y`, each between -1.0 and 1.0: the point to keep in view when cropped.
    focus: Option<String>,
}

impl FileFields for CreateMedia {
    const FILES: &'static [&'static str] = &["file", "thumbnail"];
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateMedia {
    /// The alt text, at most 1,500 characters.
    description: Option<String>,
    /// `x,y`, each between -1.0 and 1.0.
    focus: Option<String>,
    /// A new preview image: not supported yet (refused with 422, nothing changed); send it
    /// with the upload instead.
    #[serde(default, skip)]
    #[schema(value_type = Option<String>, format = Binary)]
    #[allow(dead_code)]
    thumbnail: (),
}

impl FileFields for UpdateMedia {
    const FILES: &'static [&'static str] = &["thumbnail"];
}

/// A description within Mastodon's limit.
fn description(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw {
        Some(text) if text.chars().count() > DESCRIPTION_LIMIT => Err(ApiError::Unprocessable(format!(
            "Validation failed: Description is too long (maximum is {DESCRIPTION_LIMIT} characters)"
        ))),
        Some(text) => Ok(Some(text.trim().to_owned())),
        None => Ok(None),
    }
}

/// `x,y`, each within -1..=1, as Mastodon's focal points.
fn focus(raw: Option<&str>) -> Result<Option<(f64, f64)>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else { return Ok(None) };
    let refused =
        || ApiError::Unprocessable("Focus must be two numbers between -1.0 and 1.0, as in 0.5,-0.25".into());
    let (x, y) = raw.split_once(',').ok_or_else(refused)?;
    let coordinate = |c: &str| c.trim().parse::<f64>().ok().filter(|c| (-1.0..=1.0).contains(c));
    Ok(Some((coordinate(x).ok_or_else(refused)?, coordinate(y).ok_or_else(refused)?)))
}

/// Stores an upload for the workers, then waits up to `budget` for them.
async fn upload(
    state: &AppState,
    account: tusk_core::Id,
    WithFiles { params, mut files }: WithFiles<CreateMedia>,
    answer: Answer,
) -> Result<Response, ApiError> {
    let file = files
        .remove("file")
        .ok_or_else(|| ApiError::Unprocessable("Validation failed: File can't be blank".into()))?;
    let upload = Upload {
        account,
        file,
        thumbnail: files.remove("thumbnail"),
        description: description(params.description.as_deref())?.unwrap_or_default(),
        focus: focus(params.focus.as_deref())?.unwrap_or_default(),
    };
    let row = state.service.upload_media(upload).await?;
    // a video takes longer than any request should wait: 202 at once from v2, as Mastodon's
    let budget = answer.budget(row.kind == "video");
    let row = if budget.is_zero() {
        row
    } else {
        state.service.media_when_processed(account, row.id, budget, answer == Answer::Done).await?
    };
    if let Some(error) = row.error.as_ref().filter(|_| row.is_failed()) {
        return Err(ApiError::Unprocessable(error.clone()));
    }
    let status = if row.is_done() || answer == Answer::Done { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(MediaAttachment::new(&state.instance, &row))).into_response())
}

/// `POST /api/v2/media`: 200 with the attachment when it was processed within a moment (most
/// images), else 202 with `url` null while the workers finish (videos): poll
/// `GET /api/v1/media/:id`.
#[utoipa::path(
    post,
    path = "/api/v2/media",
    operation_id = "media_create_v2",
    tag = "media",
    request_body(content((CreateMedia = "multipart/form-data"))),
    responses(
        (status = 200, description = "The processed attachment", body = MediaAttachment),
        (status = 202, description = "The attachment, still processing (`url` is null)", body = MediaAttachment),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create_v2(
    State(state): State<AppState>,
    User { account, .. }: User,
    form: WithFiles<CreateMedia>,
) -> Result<Response, ApiError> {
    upload(&state, account, form, Answer::Soon).await
}

/// `POST /api/v1/media`: the older form, which waits for processing (up to 25 s; a video still
/// processing then comes back with `url` null, as 200).
#[utoipa::path(
    post,
    path = "/api/v1/media",
    operation_id = "media_create_v1",
    tag = "media",
    request_body(content((CreateMedia = "multipart/form-data"))),
    responses(
        (status = 200, description = "The attachment", body = MediaAttachment),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn create_v1(
    State(state): State<AppState>,
    User { account, .. }: User,
    form: WithFiles<CreateMedia>,
) -> Result<Response, ApiError> {
    upload(&state, account, form, Answer::Done).await
}

/// An attachment as `GET /api/v1/media/:id` answers: 200 when processed, 206 while processing,
/// 422 with why when processing failed (Mastodon's answers).
fn media_answer(state: &AppState, row: &tusk_store::MediaRow) -> Result<Response, ApiError> {
    if row.is_failed() {
        return Err(ApiError::Unprocessable(
            row.error.clone().unwrap_or_else(|| "Error processing thumbnail for uploaded media".into()),
        ));
    }
    let status = if row.is_done() { StatusCode::OK } else { StatusCode::PARTIAL_CONTENT };
    Ok((status, Json(MediaAttachment::new(&state.instance, row))).into_response())
}

/// `GET /api/v1/media/:id`: one's own attachment: 200 once processed, 206 while processing,
/// 422 when processing failed.
#[utoipa::path(
    get,
    path = "/api/v1/media/{id}",
    operation_id = "media_show",
    tag = "media",
    params(("id" = String, Path, description = "An attachment id")),
    responses(
        (status = 200, description = "The processed attachment", body = MediaAttachment),
        (status = 206, description = "Still processing (`url` is null)", body = MediaAttachment),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    User { account, .. }: User,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    media_answer(&state, &state.service.media_of(account, id).await?)
}

/// `PUT /api/v1/media/:id`: changes the alt text or the focal point, before or after the
/// attachment is posted.
#[utoipa::path(
    put,
    path = "/api/v1/media/{id}",
    operation_id = "media_update",
    tag = "media",
    params(("id" = String, Path, description = "An attachment id")),
    request_body(content(
        (UpdateMedia = "application/json"),
        (UpdateMedia = "application/x-www-form-urlencoded"),
        (UpdateMedia = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "The attachment afterwards", body = MediaAttachment),
        (status = 206, description = "Still processing (`url` is null)", body = MediaAttachment),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    User { account, .. }: User,
    PathId(id): PathId,
    WithFiles { params, files }: WithFiles<UpdateMedia>,
) -> Result<Response, ApiError> {
    if files.contains_key("thumbnail") {
        return Err(ApiError::Unprocessable(
            "Changing the thumbnail of an upload is not supported on this server yet; send it with the upload".into(),
        ));
    }
    let description = description(params.description.as_deref())?;
    let focus = focus(params.focus.as_deref())?;
    let row = state.service.update_media(account, id, description.as_deref(), focus).await?;
    media_answer(&state, &row)
}

/// `DELETE /api/v1/media/:id`: deletes an attachment no status holds, with its files.
#[utoipa::path(
    delete,
    path = "/api/v1/media/{id}",
    operation_id = "media_delete",
    tag = "media",
    params(("id" = String, Path, description = "An attachment id")),
    responses(
        (status = 200, description = "Deleted", body = Object),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    User { account, .. }: User,
    PathId(id): PathId,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.service.delete_media(account, id).await?;
    Ok(Json(serde_json::json!({})))
}

/// A year: a file's key changes whenever its content does, so it never goes stale.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `GET /system/{collection}/{id}/{token}/{file}`: a processed media file, when the api serves
/// them (the local backend; or an object store without a public URL). `Range` is honoured;
/// only the keys of processed variants are served, so nothing outside them can be named.
#[utoipa::path(
    get,
    path = "/system/{collection}/{id}/{token}/{file}",
    operation_id = "media_file",
    tag = "media",
    params(
        ("collection" = String, Path, description = "`media_attachments`, `avatars` or `headers`"),
        ("id" = String, Path, description = "The attachment's (or account's) id"),
        ("token" = String, Path, description = "The file's random token"),
        ("file" = String, Path, description = "`original`, `small` or `static`, with the extension"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`"),
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 206, description = "The range asked for", content_type = "application/octet-stream"),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, response = NotFound),
        (status = 416, description = "The range is outside the file"),
        (status = 503, response = Unavailable),
    )
)]
pub async fn file(
    State(state): State<AppState>,
    Path((collection, id, token, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = format!("{collection}/{id}/{token}/{file}");
    if !tusk_media::is_servable_key(&key) {
        return Err(ApiError::NotFound);
    }
    let content_type = file
        .rsplit_once('.')
        .and_then(|(_, extension)| tusk_media::content_type_for_extension(extension))
        .ok_or(ApiError::NotFound)?;
    let range = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .and_then(tusk_media::ByteRange::parse);
    let served = match state.service.media_file(&key, range).await {
        Ok(served) => served,
        Err(tusk_media::MediaError::RangeNotSatisfiable { total_len }) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{total_len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(response);
        }
        Err(tusk_media::MediaError::NotFound) => return Err(ApiError::NotFound),
        Err(error) => return Err(ApiError::Unavailable(error.to_string())),
    };
    let etag = served.etag.as_deref().map(|etag| {
        if etag.starts_with('"') || etag.starts_with("W/") { etag.to_owned() } else { format!("\"{etag}\"") }
    });
    let not_modified = etag.as_deref().is_some_and(|etag| {
        headers
            .get(header::IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|asked| asked.split(',').any(|one| one.trim() == etag || one.trim() == "*"))
    });
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else if let Some(range) = &served.range {
        let mut response = (StatusCode::PARTIAL_CONTENT, Body::from(served.bytes.clone())).into_response();
        let content_range =
            format!("bytes {}-{}/{}", range.start, range.end.saturating_sub(1), served.total_len);
        if let Ok(value) = HeaderValue::from_str(&content_range) {
            response.headers_mut().insert(header::CONTENT_RANGE, value);
        }
        response
    } else {
        (StatusCode::OK, Body::from(served.bytes.clone())).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(value) = etag.and_then(|etag| HeaderValue::from_str(&etag).ok()) {
        headers.insert(header::ETAG, value);
    }
    if let Ok(value) =
        HeaderValue::from_str(&served.last_modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
    {
        headers.insert(header::LAST_MODIFIED, value);
    }
    Ok(response)
}

/// The default picture of an account without one.
fn missing(which: tusk_media::ProfileImage) -> Response {
    let mut response = (StatusCode::OK, Body::from(tusk_media::placeholder_png(which))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    // it never changes within a version; a day, not a year, so a new one shows in time
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    response
}

/// `GET /avatars/original/missing.png`: the avatar of an account without one.
#[utoipa::path(
    get,
    path = "/avatars/original/missing.png",
    operation_id = "media_missing_avatar",
    tag = "media",
    responses((status = 200, description = "A PNG", content_type = "image/png"))
)]
pub async fn missing_avatar() -> Response {
    missing(tusk_media::ProfileImage::Avatar)
}

/// `GET /headers/original/missing.png`: the header of an account without one.
#[utoipa::path(
    get,
    path = "/headers/original/missing.png",
    operation_id = "media_missing_header",
    tag = "media",
    responses((status = 200, description = "A PNG", content_type = "image/png"))
)]
pub async fn missing_header() -> Response {
    missing(tusk_media::ProfileImage::Header)
}

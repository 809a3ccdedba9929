use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use tusk_cache::EntityKind;
use tusk_core::{Id, StatusText, Visibility};
use tusk_store::NewStatus;

use crate::entities::Status;
use crate::extract::{Auth, Params, PathId, lenient};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
pub struct CreateStatus {
    #[serde(default)]
    status: String,
    visibility: Option<String>,
    #[serde(default)]
    spoiler_text: String,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    sensitive: Option<bool>,
    language: Option<String>,
    #[serde(default, deserialize_with = "lenient::id_opt")]
    in_reply_to_id: Option<Id>,
}

/// `POST /api/v1/statuses`: stores the status with its event in one transaction, then
/// publishes the event; fan-out happens in the workers.
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Params(params): Params<CreateStatus>,
) -> Result<Json<Status>, ApiError> {
    let token = auth.token("write:statuses")?;
    let account_id = token.account_id.ok_or(ApiError::UserRequired)?;
    let text = StatusText::parse(&params.status).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let visibility = match params.visibility.as_deref().filter(|v| !v.is_empty()) {
        None => Visibility::default(),
        Some(raw) => Visibility::parse(raw).map_err(ApiError::Unprocessable)?,
    };
    if let Some(parent) = params.in_reply_to_id {
        state.store.status(parent).await?;
    }
    let (status, event) = state
        .store
        .create_status(&NewStatus {
            account_id,
            text: &text,
            spoiler_text: params.spoiler_text.trim(),
            sensitive: params.sensitive.unwrap_or(false) || !params.spoiler_text.trim().is_empty(),
            visibility,
            language: params.language.as_deref().filter(|l| !l.is_empty()),
            in_reply_to_id: params.in_reply_to_id,
            application_id: Some(token.application_id),
        })
        .await?;
    state.metrics.statuses_created_total.inc();
    if let Err(error) = state.cache.put_entities(EntityKind::Status, &[(status.id, &status)]).await {
        tracing::warn!(%error, "new status not cached");
    }
    state.forget(EntityKind::Account, &[account_id]).await;
    state.publish(event).await;
    let author = state.load_account(account_id).await?;
    Ok(Json(Status::new(&state.instance, &status, &author)))
}

/// `GET /api/v1/statuses/:id`: public and unlisted statuses for anyone; private ones for the
/// author and followers; direct ones for the author.
pub async fn show(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let status = state.load_statuses(&[id]).await?.pop().ok_or(ApiError::NotFound)?;
    let viewer = auth.viewer();
    let visible = match status.visibility() {
        Visibility::Public | Visibility::Unlisted => true,
        Visibility::Private => match viewer {
            Some(v) if v == status.account_id => true,
            Some(v) => state.store.relationship(v, status.account_id).await?.following,
            None => false,
        },
        Visibility::Direct => viewer == Some(status.account_id),
    };
    if !visible {
        return Err(ApiError::NotFound);
    }
    let author = state.load_account(status.account_id).await?;
    Ok(Json(Status::new(&state.instance, &status, &author)))
}

/// `DELETE /api/v1/statuses/:id`: only the author; answers with the deleted status and its
/// `text`, so that the client can offer "delete and redraft". The workers take it out of every
/// feed.
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> Result<Json<Status>, ApiError> {
    let me = auth.user("write:statuses")?;
    let (status, event) = state.store.delete_status(me, id).await?;
    state.forget(EntityKind::Status, &[id]).await;
    state.forget(EntityKind::Account, &[me]).await;
    state.publish(event).await;
    let author = state.load_account(me).await?;
    let mut rendered = Status::new(&state.instance, &status, &author);
    rendered.text = Some(status.text);
    Ok(Json(rendered))
}

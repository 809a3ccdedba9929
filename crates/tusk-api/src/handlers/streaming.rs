//! Streaming: `GET /api/v1/streaming` (WebSocket, with `subscribe` messages) and the SSE forms
//! `/api/v1/streaming/user`, `/public`, `/public/local`, in Mastodon's event format. Events come
//! from Redis pub/sub, so any replica serves any stream; connections per replica are bounded.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{BoxStream, SelectAll};
use futures_util::{SinkExt as _, Stream, StreamExt as _};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;
use tusk_cache::{StreamEvent, Timeline};
use tusk_core::{Id, Scope};
use utoipa::IntoParams;

use crate::error::{BadRequest, Forbidden, Unauthorized, Unavailable, Unprocessable};
use crate::extract::{Caller, QueryParams, User};
use crate::{ApiError, AppState};

/// `GET /api/v1/streaming/health`.
#[utoipa::path(
    get,
    path = "/api/v1/streaming/health",
    operation_id = "streaming_health",
    tag = "streaming",
    responses(
        (status = 200, description = "`OK`", content_type = "text/plain", body = String),
    )
)]
pub async fn health() -> &'static str {
    "OK"
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// A stream to open at once: `user` (needs a user token with `read` or `read:statuses`),
    /// `public` or `public:local`.
    stream: Option<String>,
}

/// Holds a connection's place under the replica's bound and in the gauge.
struct Slot {
    _permit: OwnedSemaphorePermit,
    state: AppState,
}

impl Slot {
    fn take(state: &AppState) -> Result<Self, ApiError> {
        let permit = Arc::clone(&state.streams)
            .try_acquire_owned()
            .map_err(|_| ApiError::Unavailable("too many streaming connections".into()))?;
        state.metrics.streaming_connections.inc();
        Ok(Self { _permit: permit, state: state.clone() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.state.metrics.streaming_connections.dec();
    }
}

/// A stream a client opened: the timeline channel it reads, and whether it shows only the
/// notifications on it (`user:notification`).
#[derive(Clone, Copy, Debug)]
struct Opened {
    timeline: Timeline,
    viewer: Option<Id>,
    notifications_only: bool,
}

fn timeline(name: &str, viewer: Option<Id>) -> Result<Opened, ApiError> {
    let opened = |timeline, notifications_only| Opened { timeline, viewer, notifications_only };
    match name {
        "user" => viewer.map(|me| opened(Timeline::User(me), false)).ok_or(ApiError::InvalidToken),
        "user:notification" => {
            viewer.map(|me| opened(Timeline::User(me), true)).ok_or(ApiError::InvalidToken)
        }
        "public" => Ok(opened(Timeline::Public, false)),
        "public:local" => Ok(opened(Timeline::PublicLocal, false)),
        _ => Err(ApiError::BadRequest("Unknown stream type".into())),
    }
}

/// An event as Mastodon sends it: `update` with the status as JSON, `delete` with its id,
/// `notification` with the Notification as JSON.
async fn render(state: &AppState, opened: Opened, event: StreamEvent) -> Option<(&'static str, String)> {
    match event {
        StreamEvent::Update { .. } | StreamEvent::Delete { .. } if opened.notifications_only => None,
        StreamEvent::Update { status_id } => {
            let status = state.render_statuses(&[status_id]).await.ok()?.pop()?;
            Some(("update", serde_json::to_string(&status).ok()?))
        }
        StreamEvent::Delete { status_id } => Some(("delete", status_id.to_string())),
        StreamEvent::Notification { notification_id } => {
            let view = state.service.notification(opened.viewer?, notification_id).await.ok()?;
            let notification = state.render_notifications(&[view]).pop()?;
            Some(("notification", serde_json::to_string(&notification).ok()?))
        }
    }
}

async fn sse(
    state: AppState,
    opened: Opened,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = Slot::take(&state)?;
    let events = state.service.subscribe(&[opened.timeline]).await?;
    let stream = events.filter_map(move |event| {
        let state = slot.state.clone();
        let _held = &slot;
        async move {
            render(&state, opened, event)
                .await
                .map(|(name, data)| Ok(Event::default().event(name).data(data)))
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// `GET /api/v1/streaming/user`.
#[utoipa::path(
    get,
    path = "/api/v1/streaming/user",
    operation_id = "streaming_user",
    tag = "streaming",
    params(("access_token" = Option<String>, Query, description = "The token, when no `Authorization` header can be sent")),
    responses(
        (status = 200, description = "The user's home timeline as a stream: `update` events (a Status as JSON) and `delete` events (a status id), and comments to keep the connection open", content_type = "text/event-stream", body = String),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn sse_user(
    State(state): State<AppState>,
    User { account: me, .. }: User,
) -> Result<impl IntoResponse, ApiError> {
    sse(state, timeline("user", Some(me))?).await
}

/// `GET /api/v1/streaming/user/notification`.
#[utoipa::path(
    get,
    path = "/api/v1/streaming/user/notification",
    operation_id = "streaming_user_notification",
    tag = "streaming",
    params(("access_token" = Option<String>, Query, description = "The token, when no `Authorization` header can be sent")),
    responses(
        (status = 200, description = "The user's notifications as a stream: `notification` events (a Notification as JSON), and comments to keep the connection open", content_type = "text/event-stream", body = String),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
        (status = 503, response = Unavailable),
    )
)]
pub async fn sse_user_notification(
    State(state): State<AppState>,
    User { account: me, .. }: User,
) -> Result<impl IntoResponse, ApiError> {
    sse(state, timeline("user:notification", Some(me))?).await
}

/// `GET /api/v1/streaming/public`.
#[utoipa::path(
    get,
    path = "/api/v1/streaming/public",
    operation_id = "streaming_public",
    tag = "streaming",
    responses(
        (status = 200, description = "Public statuses as a stream: `update` events (a Status as JSON) and `delete` events (a status id), and comments to keep the connection open", content_type = "text/event-stream", body = String),
        (status = 503, response = Unavailable),
    )
)]
pub async fn sse_public(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    sse(state, timeline("public", None)?).await
}

/// `GET /api/v1/streaming/public/local`.
#[utoipa::path(
    get,
    path = "/api/v1/streaming/public/local",
    operation_id = "streaming_public_local",
    tag = "streaming",
    responses(
        (status = 200, description = "Public statuses of this server as a stream: `update` events (a Status as JSON) and `delete` events (a status id), and comments to keep the connection open", content_type = "text/event-stream", body = String),
        (status = 503, response = Unavailable),
    )
)]
pub async fn sse_public_local(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    sse(state, timeline("public:local", None)?).await
}

/// `GET /api/v1/streaming`: a WebSocket; `stream` in the query opens one stream at once, and
/// `{"type": "subscribe", "stream": "..."}` messages open more.
#[utoipa::path(
    get,
    path = "/api/v1/streaming",
    operation_id = "streaming_websocket",
    tag = "streaming",
    params(StreamQuery, ("access_token" = Option<String>, Query, description = "The token, when no `Authorization` header can be sent")),
    responses(
        (status = 101, description = "A WebSocket: send `{\"type\": \"subscribe\", \"stream\": \"user\"}` (or `public`, `public:local`) to open streams; each event arrives as `{\"stream\": [name], \"event\": \"update\"|\"delete\", \"payload\": string}`"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    )
)]
pub async fn websocket(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<StreamQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // the user stream shows the home timeline: only to a token that may read statuses (as
    // Mastodon's streaming server asks `read` or `read:statuses`); public streams need no scope
    let viewer = caller.user_with(Scope::ReadStatuses);
    let initial = match query.stream.as_deref() {
        Some(name) => vec![(name.to_owned(), timeline(name, viewer)?)],
        None => Vec::new(),
    };
    let upgrade =
        upgrade.map_err(|_| ApiError::BadRequest("This endpoint requires a WebSocket upgrade".into()))?;
    let slot = Slot::take(&state)?;
    Ok(upgrade.on_upgrade(move |socket| serve_socket(socket, slot, viewer, initial)))
}

#[derive(Deserialize)]
struct Command {
    #[serde(rename = "type")]
    kind: String,
    stream: String,
}

type Subscription = BoxStream<'static, (String, Opened, StreamEvent)>;

async fn subscribe(state: &AppState, name: String, opened: Opened) -> Option<Subscription> {
    let events = state.service.subscribe(&[opened.timeline]).await.ok()?;
    Some(events.map(move |event| (name.clone(), opened, event)).boxed())
}

async fn serve_socket(socket: WebSocket, slot: Slot, viewer: Option<Id>, initial: Vec<(String, Opened)>) {
    let state = slot.state.clone();
    let (mut sink, mut incoming) = socket.split();
    let mut subscriptions: SelectAll<Subscription> = SelectAll::new();
    for (name, opened) in initial {
        subscriptions.extend(subscribe(&state, name, opened).await);
    }
    loop {
        tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let Ok(command) = serde_json::from_str::<Command>(&text) else { continue };
                    if command.kind == "subscribe"
                        && let Ok(opened) = timeline(&command.stream, viewer)
                    {
                        subscriptions.extend(subscribe(&state, command.stream, opened).await);
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            Some((name, opened, event)) = subscriptions.next() => {
                let Some((event, payload)) = render(&state, opened, event).await else { continue };
                let frame = json!({ "stream": [name], "event": event, "payload": payload }).to_string();
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
            }
        }
    }
    drop(slot);
}

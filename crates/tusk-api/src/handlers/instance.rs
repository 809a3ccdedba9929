use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use tusk_core::{PageRange, StatusText};

use crate::AppState;

const VERSION: &str = concat!("4.3.0 (compatible; Tusk ", env!("CARGO_PKG_VERSION"), ")");
const SOURCE_URL: &str = "https://github.com/tusk-social/tusk";
const DESCRIPTION: &str = "A Mastodon-compatible server built to stay fast when a crowd arrives at once.";

/// What apps may upload, from the file types the workers process.
const SUPPORTED_MIME_TYPES: [&str; 8] = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "video/mp4",
    "video/quicktime",
    "video/webm",
];

fn configuration(state: &AppState) -> Value {
    let limits = state.service.media_limits();
    json!({
        "urls": { "streaming": state.instance.streaming_url() },
        "accounts": { "max_featured_tags": 0, "max_pinned_statuses": tusk_store::PIN_LIMIT },
        "statuses": {
            "max_characters": StatusText::MAX_CHARS,
            "max_media_attachments": tusk_core::instance::MAX_MEDIA_ATTACHMENTS,
            "characters_reserved_per_url": 23,
        },
        "media_attachments": {
            "supported_mime_types": SUPPORTED_MIME_TYPES,
            "description_limit": tusk_service::DESCRIPTION_LIMIT,
            "image_size_limit": limits.image_bytes,
            "image_matrix_limit": limits.image_pixels,
            "video_size_limit": limits.video_bytes,
            "video_frame_rate_limit": limits.max_video_frame_rate,
            "video_matrix_limit": limits.video_pixels,
        },
        "polls": { "max_options": 0, "max_characters_per_option": 0, "min_expiration": 0, "max_expiration": 0 },
        "timelines": { "max_page_size": PageRange::MAX_LIMIT },
    })
}

/// `GET /api/v1/instance` (Mastodon's older shape, still read by many apps).
#[utoipa::path(
    get,
    path = "/api/v1/instance",
    operation_id = "instance_v1",
    tag = "instance",
    responses(
        (status = 200, description = "The server (Mastodon's V1::Instance); `stats` at most a minute old", body = Object),
    )
)]
pub async fn v1(State(state): State<AppState>) -> Json<Value> {
    let domain = &state.instance.domain;
    let stats = state.service.instance_stats().await;
    Json(json!({
        "uri": domain,
        "title": "Tusk",
        "short_description": DESCRIPTION,
        "description": DESCRIPTION,
        "email": "",
        "version": VERSION,
        "urls": { "streaming_api": state.instance.streaming_url() },
        "stats": { "user_count": stats.users, "status_count": stats.statuses, "domain_count": 0 },
        "thumbnail": null,
        "languages": ["en"],
        "registrations": state.service.registrations().enabled(),
        "approval_required": state.service.registrations().approval_required(),
        "invites_enabled": false,
        "configuration": configuration(&state),
        "contact_account": null,
        "rules": [],
    }))
}

/// `GET /api/v2/instance`.
#[utoipa::path(
    get,
    path = "/api/v2/instance",
    operation_id = "instance_v2",
    tag = "instance",
    responses(
        (status = 200, description = "The server (Mastodon's Instance); `usage` at most a minute old", body = Object),
    )
)]
pub async fn v2(State(state): State<AppState>) -> Json<Value> {
    let stats = state.service.instance_stats().await;
    Json(json!({
        "domain": state.instance.domain,
        "title": "Tusk",
        "version": VERSION,
        "source_url": SOURCE_URL,
        "description": DESCRIPTION,
        "usage": { "users": { "active_month": stats.active_month } },
        "thumbnail": { "url": format!("{}/thumbnail.png", state.instance.base_url()) },
        "icon": [],
        "languages": ["en"],
        "configuration": configuration(&state),
        "registrations": {
            "enabled": state.service.registrations().enabled(),
            "approval_required": state.service.registrations().approval_required(),
            "message": null,
            "url": null,
        },
        "api_versions": { "mastodon": 2 },
        "contact": { "email": "", "account": null },
        "rules": [],
    }))
}

/// NodeInfo's schema URI of a version, as the discovery document links it.
fn nodeinfo_schema(version: &str) -> String {
    format!("http://nodeinfo.diaspora.software/ns/schema/{version}")
}

/// `GET /.well-known/nodeinfo`: where the NodeInfo documents are (2.0, as Mastodon, and 2.1).
#[utoipa::path(
    get,
    path = "/.well-known/nodeinfo",
    operation_id = "nodeinfo_discovery",
    tag = "instance",
    responses(
        (status = 200, description = "Links to the NodeInfo 2.0 and 2.1 documents", body = Object),
    )
)]
pub async fn nodeinfo_links(State(state): State<AppState>) -> Json<Value> {
    let link = |version| json!({ "rel": nodeinfo_schema(version), "href": format!("{}/nodeinfo/{version}", state.instance.base_url()) });
    Json(json!({ "links": [link("2.0"), link("2.1")] }))
}

/// `GET /nodeinfo/2.0`: the document Mastodon serves (see [`nodeinfo`]).
#[utoipa::path(
    get,
    path = "/nodeinfo/2.0",
    operation_id = "nodeinfo_2_0",
    tag = "instance",
    responses(
        (status = 200, description = "The NodeInfo 2.0 document", body = Object, content_type = "application/json"),
    )
)]
pub async fn nodeinfo_2_0(State(state): State<AppState>) -> impl IntoResponse {
    nodeinfo(&state, "2.0").await
}

/// `GET /nodeinfo/2.1`: 2.0 with the software's repository and homepage.
#[utoipa::path(
    get,
    path = "/nodeinfo/2.1",
    operation_id = "nodeinfo_2_1",
    tag = "instance",
    responses(
        (status = 200, description = "The NodeInfo 2.1 document", body = Object, content_type = "application/json"),
    )
)]
pub async fn nodeinfo_2_1(State(state): State<AppState>) -> impl IntoResponse {
    nodeinfo(&state, "2.1").await
}

/// The NodeInfo document of `version`: the software, its protocols and its usage from the
/// cached instance counts. The software is Tusk; `metadata.upstream` names Mastodon, whose
/// client API it serves, so that client libraries (megalodon's `detector()`) treat it as
/// Mastodon.
async fn nodeinfo(state: &AppState, version: &str) -> impl IntoResponse + use<> {
    let stats = state.service.instance_stats().await;
    let mut software = json!({ "name": "tusk", "version": env!("CARGO_PKG_VERSION") });
    if version == "2.1" {
        software["repository"] = json!(SOURCE_URL);
        software["homepage"] = json!(SOURCE_URL);
    }
    let document = json!({
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": { "outbound": [], "inbound": [] },
        "usage": {
            "users": { "total": stats.users, "activeMonth": stats.active_month },
            "localPosts": stats.statuses,
        },
        "openRegistrations": state.service.registrations().enabled(),
        "metadata": {
            "nodeName": "Tusk",
            "nodeDescription": DESCRIPTION,
            "upstream": { "name": "mastodon", "version": "4.3.0" },
        },
    });
    let profile = format!("application/json; profile=\"{}#\"", nodeinfo_schema(version));
    ([(axum::http::header::CONTENT_TYPE, profile)], Json(document))
}

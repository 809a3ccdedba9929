//! The endpoints whose feature comes with a later issue (custom emojis, announcements, lists,
//! followed tags, filters, conversations, scheduled statuses, instance peers and rules,
//! trends). Apps call them at launch and stop on a 404 (the Android app re-fetches custom
//! emojis on every launch until one succeeds), so each answers its correct empty value now:
//! an empty list is what a Mastodon server with none of these things answers. Their writes
//! answer a clear 422 until the feature exists, so nothing is silently dropped.

use axum::Json;
use serde_json::{Value, json};

use crate::ApiError;
use crate::error::{Forbidden, Unauthorized, Unprocessable};

/// A `GET` whose answer is, until its feature lands, an empty list.
macro_rules! empty_list {
    ($name:ident, $path:literal, $operation:literal, $tag:literal, $what:literal) => {
        #[doc = concat!("`GET ", $path, "`: ", $what, ", none yet.")]
        #[utoipa::path(
                                            get,
                                            path = $path,
                                            operation_id = $operation,
                                            tag = $tag,
                                            responses(
                                                (status = 200, description = $what, body = Vec<Object>),
                                                (status = 401, response = Unauthorized),
                                                (status = 403, response = Forbidden),
                                            )
                                        )]
        pub async fn $name() -> Json<Vec<Value>> {
            Json(Vec::new())
        }
    };
}

/// A write whose feature has not landed: 422 with what is missing.
macro_rules! not_yet {
    ($name:ident, $path:literal, $operation:literal, $tag:literal, $feature:literal) => {
        #[doc = concat!("`POST ", $path, "`: 422 until ", $feature, " exist here.")]
        #[utoipa::path(
                                                            post,
                                                            path = $path,
                                                            operation_id = $operation,
                                                            tag = $tag,
                                                            responses(
                                                                (status = 401, response = Unauthorized),
                                                                (status = 403, response = Forbidden),
                                                                (status = 422, response = Unprocessable),
                                                            )
                                                        )]
        pub async fn $name() -> ApiError {
            ApiError::Unprocessable(concat!($feature, " are not supported on this server yet").into())
        }
    };
}

empty_list!(custom_emojis, "/api/v1/custom_emojis", "custom_emojis", "instance", "The custom emojis");
empty_list!(announcements, "/api/v1/announcements", "announcements", "instance", "The announcements");
empty_list!(
    peers,
    "/api/v1/instance/peers",
    "instance_peers",
    "instance",
    "The domains this server federates with"
);
empty_list!(rules, "/api/v1/instance/rules", "instance_rules", "instance", "The server's rules");
empty_list!(trends, "/api/v1/trends", "trends", "trends", "The trending hashtags");
empty_list!(trends_tags, "/api/v1/trends/tags", "trends_tags", "trends", "The trending hashtags");
empty_list!(trends_statuses, "/api/v1/trends/statuses", "trends_statuses", "trends", "The trending statuses");
empty_list!(trends_links, "/api/v1/trends/links", "trends_links", "trends", "The trending links");
empty_list!(lists, "/api/v1/lists", "lists_index", "lists", "The signed-in account's lists");
empty_list!(
    followed_tags,
    "/api/v1/followed_tags",
    "followed_tags",
    "tags",
    "The hashtags the signed-in account follows"
);
empty_list!(
    filters_v1,
    "/api/v1/filters",
    "filters_v1_index",
    "filters",
    "The signed-in account's filters (v1)"
);
empty_list!(filters_v2, "/api/v2/filters", "filters_index", "filters", "The signed-in account's filters");
empty_list!(
    conversations,
    "/api/v1/conversations",
    "conversations_index",
    "timelines",
    "The signed-in account's direct conversations"
);
empty_list!(
    scheduled_statuses,
    "/api/v1/scheduled_statuses",
    "scheduled_statuses_index",
    "statuses",
    "The signed-in account's scheduled statuses"
);

/// The operations of [`not_yet!`]: they have no success answer yet.
#[cfg(test)]
pub(crate) const REFUSED: &[&str] = &["lists_create", "filters_v1_create", "filters_create", "tags_follow"];

not_yet!(create_list, "/api/v1/lists", "lists_create", "lists", "Lists");
not_yet!(create_filter_v1, "/api/v1/filters", "filters_v1_create", "filters", "Filters");
not_yet!(create_filter_v2, "/api/v2/filters", "filters_create", "filters", "Filters");
/// `POST /api/v1/tags/:name/follow`: 422 until followed hashtags exist here.
#[utoipa::path(
    post,
    path = "/api/v1/tags/{name}/follow",
    operation_id = "tags_follow",
    tag = "tags",
    params(("name" = String, Path, description = "A hashtag, without the #")),
    responses(
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
    )
)]
pub async fn follow_tag() -> ApiError {
    ApiError::Unprocessable("Followed hashtags are not supported on this server yet".into())
}

empty_list!(
    notification_requests,
    "/api/v1/notifications/requests",
    "notification_requests",
    "notifications",
    "The notifications held back by the policy (Tusk holds none back)"
);

/// No notification is filtered yet: nothing waits in requests.
fn no_requests() -> Value {
    json!({ "pending_requests_count": 0, "pending_notifications_count": 0 })
}

/// `GET /api/v1/notifications/policy`: Mastodon 4.2's filtering policy, as Tusk applies it:
/// nothing is filtered (notifications of blocked and muted accounts are never made).
#[utoipa::path(
    get,
    path = "/api/v1/notifications/policy",
    operation_id = "notification_policy_v1",
    tag = "notifications",
    responses(
        (status = 200, description = "The filtering policy (nothing is filtered)", body = Object),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub async fn notification_policy_v1() -> Json<Value> {
    Json(json!({
        "filter_not_following": false,
        "filter_not_followers": false,
        "filter_new_accounts": false,
        "filter_private_mentions": false,
        "summary": no_requests(),
    }))
}

/// `GET /api/v2/notifications/policy`: Mastodon 4.3's form of the same policy: every kind of
/// sender is accepted.
#[utoipa::path(
    get,
    path = "/api/v2/notifications/policy",
    operation_id = "notification_policy",
    tag = "notifications",
    responses(
        (status = 200, description = "The filtering policy (every sender accepted)", body = Object),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub async fn notification_policy() -> Json<Value> {
    Json(json!({
        "for_not_following": "accept",
        "for_not_followers": "accept",
        "for_new_accounts": "accept",
        "for_private_mentions": "accept",
        "for_limited_accounts": "accept",
        "summary": no_requests(),
    }))
}

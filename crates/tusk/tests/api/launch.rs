//! The calls the apps people use make when they open (Tusky, Ice Cubes, Elk, Phanpy, the
//! official Mastodon iOS and Android apps, megalodon-based apps, `toot`), replayed against a
//! signed-in account that has a home, notifications and markers, each answer decoded strictly:
//! 200, and every field the apps' decoders require present and non-null, in every entity of
//! every list (an app whose decoder meets one null where it requires a string drops the whole
//! answer, and the iOS app then stops onboarding).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};

/// What an answer must be, as the strictest of the apps' decoders reads it.
#[derive(Clone, Copy, Debug)]
enum Shape {
    InstanceV1,
    InstanceV2,
    CredentialAccount,
    Accounts,
    Statuses,
    Notifications,
    Grouped,
    UnreadCount,
    Markers,
    Preferences,
    Relationships,
    Search,
    NodeInfoLinks,
    NodeInfo,
    Policy,
    /// A list the feature of a later issue fills.
    EmptyList,
}

const ACCOUNT: &[&str] = &[
    "id",
    "username",
    "acct",
    "display_name",
    "locked",
    "bot",
    "group",
    "discoverable",
    "created_at",
    "note",
    "url",
    "uri",
    "avatar",
    "avatar_static",
    "header",
    "header_static",
    "followers_count",
    "following_count",
    "statuses_count",
    "emojis",
    "fields",
];
const STATUS: &[&str] = &[
    "id",
    "uri",
    "url",
    "created_at",
    "account",
    "content",
    "visibility",
    "sensitive",
    "spoiler_text",
    "media_attachments",
    "mentions",
    "tags",
    "emojis",
    "reblogs_count",
    "favourites_count",
    "replies_count",
    "favourited",
    "reblogged",
    "muted",
    "bookmarked",
    "pinned",
    "filtered",
];
const NOTIFICATION: &[&str] = &["id", "type", "created_at", "account", "group_key"];
const GROUP: &[&str] = &[
    "group_key",
    "notifications_count",
    "type",
    "most_recent_notification_id",
    "sample_account_ids",
    "latest_page_notification_at",
];
const MARKER: &[&str] = &["last_read_id", "version", "updated_at"];
const RELATIONSHIP: &[&str] = &[
    "id",
    "following",
    "showing_reblogs",
    "notifying",
    "followed_by",
    "blocking",
    "blocked_by",
    "muting",
    "muting_notifications",
    "requested",
    "requested_by",
    "domain_blocking",
    "endorsed",
    "note",
];

/// `value` at the dotted `path` (`configuration.urls.streaming`), if present and not null.
fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key)).filter(|v| !v.is_null())
}

/// Every field of `fields` present and non-null in `value`.
fn require(what: &str, value: &Value, fields: &[&str]) {
    for field in fields {
        assert!(at(value, field).is_some(), "{what}: `{field}` missing or null in {value}");
    }
}

fn each(what: &str, list: &Value, check: impl Fn(&str, &Value)) -> usize {
    let items = list.as_array().unwrap_or_else(|| panic!("{what}: not a list: {list}"));
    for item in items {
        check(what, item);
    }
    items.len()
}

fn account(what: &str, value: &Value) {
    require(what, value, ACCOUNT);
}

fn status(what: &str, value: &Value) {
    require(what, value, STATUS);
    account(&format!("{what} account"), &value["account"]);
    if let Some(reblog) = at(value, "reblog") {
        status(&format!("{what} reblog"), reblog);
    }
}

fn decode(what: &str, shape: Shape, body: &Value) -> usize {
    match shape {
        Shape::InstanceV1 => {
            require(what, body, &["uri", "title", "version", "urls.streaming_api", "stats", "configuration"]);
            1
        }
        Shape::InstanceV2 => {
            require(
                what,
                body,
                &[
                    "domain",
                    "title",
                    "version",
                    "configuration.urls.streaming",
                    "registrations",
                    "api_versions",
                ],
            );
            1
        }
        Shape::CredentialAccount => {
            account(what, body);
            require(what, body, &["source.privacy", "source.sensitive", "source.note", "source.fields"]);
            1
        }
        Shape::Accounts => each(what, body, account),
        Shape::Statuses => each(what, body, status),
        Shape::Notifications => each(what, body, |what, n| {
            require(what, n, NOTIFICATION);
            account(what, &n["account"]);
            if let Some(s) = at(n, "status") {
                status(what, s);
            }
        }),
        Shape::Grouped => {
            each(what, &body["accounts"], account);
            each(what, &body["statuses"], status);
            each(what, &body["notification_groups"], |what, g| require(what, g, GROUP))
        }
        Shape::UnreadCount => {
            require(what, body, &["count"]);
            1
        }
        Shape::Markers => {
            for timeline in ["home", "notifications"] {
                require(what, &body[timeline], MARKER);
            }
            2
        }
        Shape::Preferences => {
            require(
                what,
                body,
                &["posting:default:visibility", "posting:default:sensitive", "reading:expand:media"],
            );
            1
        }
        Shape::Relationships => each(what, body, |what, r| require(what, r, RELATIONSHIP)),
        Shape::Search => {
            each(what, &body["statuses"], status);
            each(what, &body["hashtags"], |what, t| require(what, t, &["name", "url"]));
            each(what, &body["accounts"], account)
        }
        Shape::NodeInfoLinks => each(what, &body["links"], |what, l| require(what, l, &["rel", "href"])),
        Shape::NodeInfo => {
            require(
                what,
                body,
                &["version", "software.name", "software.version", "protocols", "usage.users.total"],
            );
            1
        }
        Shape::Policy => {
            require(what, body, &["summary.pending_requests_count", "summary.pending_notifications_count"]);
            1
        }
        Shape::EmptyList => {
            assert_eq!(body, &json!([]), "{what}");
            0
        }
    }
}

#[tokio::test]
async fn every_apps_launch_calls_answer_entities_that_decode_strictly() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    // a home with a reblog, notifications of every kind the apps show first, and markers
    let hello = app.post_status(&bob, "hello @alice #tusk").await;
    let hello_id = hello["id"].as_str().unwrap().to_owned();
    for action in ["favourite", "reblog", "bookmark"] {
        let path = format!("/api/v1/statuses/{hello_id}/{action}");
        let response = app.http.post(app.url(&path)).bearer_auth(&alice.token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{action}");
    }
    app.follow(&bob, &alice).await;
    let mine = app.post_status(&alice, "mine").await;
    let path = format!("/api/v1/statuses/{}/favourite", mine["id"].as_str().unwrap());
    app.http.post(app.url(&path)).bearer_auth(&bob.token).send().await.unwrap();
    eventually("alice's notifications", || async {
        app.get_json(&alice.token, "/api/v1/notifications").await.as_array().unwrap().len() >= 3
    })
    .await;
    let body = json!({ "home": { "last_read_id": hello_id }, "notifications": { "last_read_id": "1" } });
    let response = app.post_json_as(app.url("/api/v1/markers"), &alice.token, &body).await;
    assert_eq!(response.status(), StatusCode::OK);

    let statuses = format!("/api/v1/statuses?id[]={hello_id}&id[]={}", mine["id"].as_str().unwrap());
    let relationships = format!("/api/v1/accounts/relationships?id[]={}", bob.id);
    let profile = format!("/api/v1/accounts/{}/statuses?pinned=true", alice.id);
    let calls: Vec<(&str, String, Shape)> = [
        // Tusky
        ("tusky", "/api/v1/instance", Shape::InstanceV1),
        ("tusky", "/api/v1/accounts/verify_credentials", Shape::CredentialAccount),
        ("tusky", "/api/v1/custom_emojis", Shape::EmptyList),
        ("tusky", "/api/v1/timelines/home?limit=30", Shape::Statuses),
        ("tusky", "/api/v1/notifications?limit=30", Shape::Notifications),
        ("tusky", "/api/v1/markers?timeline[]=home&timeline[]=notifications", Shape::Markers),
        ("tusky", "/api/v1/lists", Shape::EmptyList),
        ("tusky", "/api/v1/announcements", Shape::EmptyList),
        ("tusky", "/api/v2/filters", Shape::EmptyList),
        // Ice Cubes
        ("ice cubes", "/api/v2/instance", Shape::InstanceV2),
        ("ice cubes", "/api/v1/followed_tags", Shape::EmptyList),
        (
            "ice cubes",
            "/api/v2/notifications?grouped_types[]=favourite&grouped_types[]=reblog&grouped_types[]=follow",
            Shape::Grouped,
        ),
        ("ice cubes", "/api/v1/trends/tags", Shape::EmptyList),
        ("ice cubes", "/api/v1/notifications/policy", Shape::Policy),
        ("ice cubes", "/api/v1/bookmarks", Shape::Statuses),
        ("ice cubes", "/api/v1/favourites", Shape::Statuses),
        // Elk
        ("elk", "/api/v1/preferences", Shape::Preferences),
        ("elk", "/api/v1/filters", Shape::EmptyList),
        ("elk", "/api/v1/conversations", Shape::EmptyList),
        ("elk", "/api/v1/trends/statuses", Shape::EmptyList),
        ("elk", "/api/v1/trends/links", Shape::EmptyList),
        // Phanpy
        ("phanpy", "/api/v2/notifications/unread_count", Shape::UnreadCount),
        ("phanpy", "/api/v1/notifications/unread_count", Shape::UnreadCount),
        ("phanpy", statuses.as_str(), Shape::Statuses),
        ("phanpy", "/api/v2/notifications/policy", Shape::Policy),
        ("phanpy", "/api/v1/notifications/requests", Shape::EmptyList),
        ("phanpy", "/api/v1/scheduled_statuses", Shape::EmptyList),
        // the official apps
        ("mastodon ios", "/api/v2/notifications", Shape::Grouped),
        ("mastodon ios", "/api/v1/instance/rules", Shape::EmptyList),
        ("mastodon android", "/api/v1/blocks", Shape::Accounts),
        ("mastodon android", "/api/v1/mutes", Shape::Accounts),
        ("mastodon android", "/api/v1/instance/peers", Shape::EmptyList),
        ("mastodon android", relationships.as_str(), Shape::Relationships),
        ("mastodon android", profile.as_str(), Shape::Statuses),
        // megalodon's detector() and toot
        ("megalodon", "/.well-known/nodeinfo", Shape::NodeInfoLinks),
        ("megalodon", "/nodeinfo/2.0", Shape::NodeInfo),
        ("megalodon", "/nodeinfo/2.1", Shape::NodeInfo),
        ("toot", "/api/v2/search?q=bob&type=accounts&resolve=true", Shape::Search),
        ("toot", "/api/v1/accounts/search?q=bo", Shape::Accounts),
    ]
    .into_iter()
    .map(|(app, path, shape)| (app, path.to_owned(), shape))
    .collect();
    let mut entities = 0;
    for (client, path, shape) in &calls {
        let what = format!("{client}: GET {path}");
        let response = app.http.get(app.url(path)).bearer_auth(&alice.token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{what}");
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
        entities += decode(&what, *shape, &body);
    }
    // the replay saw real entities, not a run of empty lists
    assert!(entities > 20, "{entities} entities decoded");
}

//! Mastodon's JSON entities, field for field: ids as strings, times in RFC 3339 with
//! milliseconds, `content` as HTML, empty arrays where Tusk has nothing to show.
//!
//! Each entity is a struct that is both serialized into the responses and described in the
//! OpenAPI document (`ToSchema`), so that the document cannot say something the JSON does not.
//! Lists that Tusk always leaves empty (emojis, media, ...) are described as arrays of objects.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tusk_core::{Id, Instance, Visibility, html};
use tusk_store::{
    AccountRow, AppRow, MediaRow, Relationship as RelationshipRow, StatusRow, StatusStats, TokenRow,
    UserSettings,
};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Type};

/// An entity serialized once, for the responses that embed it many times over (an author in
/// every status of a page, and in every page while its row stays the same): serializing it
/// copies the JSON. Reads of its fields go to the entity.
pub struct Rendered<T> {
    value: T,
    /// `None` only if serializing failed: then each serialization tries again (and fails as
    /// the entity's own would).
    json: Option<Box<RawValue>>,
}

impl<T: Serialize> Rendered<T> {
    pub fn new(value: T) -> Self {
        let json = serde_json::value::to_raw_value(&value).ok();
        Self { value, json }
    }
}

impl<T> std::ops::Deref for Rendered<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Serialize> Serialize for Rendered<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.json {
            Some(json) => json.serialize(serializer),
            None => self.value.serialize(serializer),
        }
    }
}

/// An account as statuses and notifications embed it: rendered and serialized once.
pub type EmbeddedAccount = Arc<Rendered<Account>>;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Mastodon shows an account's creation day, not its second.
fn day(t: DateTime<Utc>) -> String {
    format!("{}T00:00:00.000Z", t.format("%Y-%m-%d"))
}

/// `visibility` in the document: the four values [`Visibility`] takes.
fn visibility_schema() -> ObjectBuilder {
    let names = [Visibility::Public, Visibility::Unlisted, Visibility::Private, Visibility::Direct]
        .map(Visibility::as_str);
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names))
}

/// A user account (Mastodon's Account; with `source`, its CredentialAccount).
#[derive(Serialize, ToSchema)]
pub struct Account {
    #[schema(value_type = String, example = "109348567819048123")]
    pub id: Id,
    pub username: String,
    pub acct: String,
    pub display_name: String,
    pub locked: bool,
    pub bot: bool,
    pub discoverable: bool,
    pub indexable: bool,
    pub group: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// HTML.
    pub note: String,
    pub url: String,
    pub uri: String,
    pub avatar: String,
    pub avatar_static: String,
    pub header: String,
    pub header_static: String,
    pub followers_count: i64,
    pub following_count: i64,
    pub statuses_count: i64,
    #[schema(format = Date)]
    pub last_status_at: Option<String>,
    pub hide_collections: Option<bool>,
    #[schema(value_type = Vec<Object>)]
    pub emojis: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub fields: Vec<Value>,
    /// Only for the account's owner (`verify_credentials`, `update_credentials`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub source: Option<Source>,
}

/// What only the owner of an account sees: the raw note and the posting defaults.
#[derive(Serialize, ToSchema)]
pub struct Source {
    pub privacy: &'static str,
    pub sensitive: bool,
    pub language: Option<String>,
    /// Plain text, as typed.
    pub note: String,
    #[schema(value_type = Vec<Object>)]
    pub fields: Vec<Value>,
    pub follow_requests_count: i64,
}

impl Account {
    pub fn new(instance: &Instance, row: &AccountRow) -> Self {
        let picture = |key: &Option<String>, collection| match key {
            Some(key) => instance.media_file_url(key),
            None => instance.missing_image_url(collection),
        };
        Self {
            id: row.id,
            username: row.username.clone(),
            acct: row.username.clone(),
            display_name: row.display_name.clone(),
            locked: row.locked,
            bot: row.bot,
            discoverable: true,
            indexable: false,
            group: false,
            created_at: day(row.created_at),
            note: html::note_to_html(&row.note),
            url: instance.account_url(&row.username),
            uri: instance.account_uri(&row.username),
            avatar: picture(&row.avatar_key, "avatars"),
            avatar_static: picture(&row.avatar_static_key, "avatars"),
            header: picture(&row.header_key, "headers"),
            header_static: picture(&row.header_static_key, "headers"),
            followers_count: row.followers_count,
            following_count: row.following_count,
            statuses_count: row.statuses_count,
            last_status_at: row.last_status_at.map(|t| t.format("%Y-%m-%d").to_string()),
            hide_collections: None,
            emojis: Vec::new(),
            fields: Vec::new(),
            source: None,
        }
    }

    /// `verify_credentials` adds what only the owner sees, with the number of follow requests
    /// waiting for the account.
    pub fn with_source(
        mut self,
        row: &AccountRow,
        settings: &UserSettings,
        follow_requests_count: i64,
    ) -> Self {
        self.source = Some(Source {
            privacy: settings.default_privacy.as_str(),
            sensitive: settings.default_sensitive,
            // the language posts get when they name none
            language: settings.default_language.clone().or_else(|| settings.locale.clone()),
            note: row.note.clone(),
            fields: Vec::new(),
            follow_requests_count,
        });
        self
    }
}

/// Mastodon's Preferences: the posting defaults, and the reading ones at Mastodon's defaults.
#[derive(Serialize, ToSchema)]
pub struct Preferences {
    #[serde(rename = "posting:default:visibility")]
    #[schema(rename = "posting:default:visibility")]
    pub visibility: &'static str,
    #[serde(rename = "posting:default:sensitive")]
    #[schema(rename = "posting:default:sensitive")]
    pub sensitive: bool,
    #[serde(rename = "posting:default:language")]
    #[schema(rename = "posting:default:language")]
    pub language: Option<String>,
    /// `default`, `show_all` or `hide_all`.
    #[serde(rename = "reading:expand:media")]
    #[schema(rename = "reading:expand:media")]
    pub expand_media: &'static str,
    #[serde(rename = "reading:expand:spoilers")]
    #[schema(rename = "reading:expand:spoilers")]
    pub expand_spoilers: bool,
    #[serde(rename = "reading:autoplay:gifs")]
    #[schema(rename = "reading:autoplay:gifs")]
    pub autoplay_gifs: bool,
}

impl Preferences {
    pub fn new(settings: &UserSettings) -> Self {
        Self {
            visibility: settings.default_privacy.as_str(),
            sensitive: settings.default_sensitive,
            language: settings.default_language.clone(),
            expand_media: "default",
            expand_spoilers: false,
            autoplay_gifs: false,
        }
    }
}

/// A status (a post), as the viewer sees it.
#[derive(Clone, Serialize, ToSchema)]
pub struct Status {
    #[schema(value_type = String, example = "109348567819048456")]
    pub id: Id,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(value_type = Option<String>)]
    pub in_reply_to_id: Option<Id>,
    #[schema(value_type = Option<String>)]
    pub in_reply_to_account_id: Option<Id>,
    pub sensitive: bool,
    pub spoiler_text: String,
    #[schema(schema_with = visibility_schema)]
    pub visibility: &'static str,
    pub language: Option<String>,
    pub uri: String,
    pub url: String,
    pub replies_count: i64,
    pub reblogs_count: i64,
    pub favourites_count: i64,
    #[schema(format = DateTime)]
    pub edited_at: Option<String>,
    pub favourited: bool,
    pub reblogged: bool,
    pub muted: bool,
    pub bookmarked: bool,
    pub pinned: bool,
    /// HTML.
    pub content: String,
    #[schema(value_type = Vec<Object>)]
    pub filtered: Vec<Value>,
    /// For a reblog, the status it reblogs.
    #[schema(value_type = Option<Status>, no_recursion)]
    pub reblog: Option<Box<Status>>,
    pub application: Option<StatusApplication>,
    /// Shared by the statuses that have the same author, rendered once per version of its row
    /// (render.rs).
    #[schema(value_type = Account)]
    pub account: EmbeddedAccount,
    pub media_attachments: Vec<MediaAttachment>,
    pub mentions: Vec<Mention>,
    pub tags: Vec<Tag>,
    #[schema(value_type = Vec<Object>)]
    pub emojis: Vec<Value>,
    #[schema(value_type = Option<Object>)]
    pub card: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub poll: Option<Value>,
    /// Only in the answer to a delete (for "delete and redraft"); otherwise absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub text: Option<String>,
}

/// An uploaded file: an image, a GIF turned into a silent looping video (`gifv`) or a video.
/// While it is processed, `url` and `preview_url` are null.
#[derive(Clone, Serialize, ToSchema)]
pub struct MediaAttachment {
    #[schema(value_type = String)]
    pub id: Id,
    /// `image`, `gifv`, `video` (or `unknown`).
    #[serde(rename = "type")]
    #[schema(rename = "type", example = "image")]
    pub kind: String,
    /// The processed file; null while processing.
    pub url: Option<String>,
    /// The small version (a video's poster frame); null while processing.
    pub preview_url: Option<String>,
    /// Where a remote server keeps it (null for local media).
    pub remote_url: Option<String>,
    pub preview_remote_url: Option<String>,
    pub text_url: Option<String>,
    /// `original` and `small` (width, height, size, aspect; a video's duration and frame
    /// rate), `focus`.
    #[schema(value_type = Object)]
    pub meta: Value,
    /// The alt text.
    pub description: Option<String>,
    pub blurhash: Option<String>,
}

impl MediaAttachment {
    pub fn new(instance: &Instance, row: &MediaRow) -> Self {
        let mut meta = row.meta.clone();
        if let Value::Object(fields) = &mut meta {
            fields.insert("focus".into(), serde_json::json!({ "x": row.focus_x, "y": row.focus_y }));
        }
        Self {
            id: row.id,
            kind: row.kind.clone(),
            url: row.original_key.as_deref().map(|key| instance.media_file_url(key)),
            preview_url: row.small_key.as_deref().map(|key| instance.media_file_url(key)),
            remote_url: None,
            preview_remote_url: None,
            text_url: None,
            meta,
            description: Some(row.description.clone()).filter(|d| !d.is_empty()),
            blurhash: row.blurhash.clone(),
        }
    }
}

/// A local account a status mentions.
#[derive(Clone, Serialize, ToSchema)]
pub struct Mention {
    #[schema(value_type = String)]
    pub id: Id,
    pub username: String,
    pub url: String,
    pub acct: String,
}

/// A hashtag of a status: its name (lowercase) and its page.
#[derive(Clone, Serialize, ToSchema)]
pub struct Tag {
    pub name: String,
    pub url: String,
}

impl Tag {
    /// The hashtag `name` (as first written), named in lowercase as Mastodon names it.
    pub fn named(instance: &Instance, name: &str) -> Self {
        let name = name.to_lowercase();
        Self { url: instance.tag_url(&name), name }
    }
}

/// Where a status's mentions and hashtags link: the profile of each account it mentions.
struct StatusLinks<'a> {
    instance: &'a Instance,
    status: &'a StatusRow,
}

impl html::Links for StatusLinks<'_> {
    fn mention(&self, username: &str, domain: Option<&str>) -> Option<String> {
        if !tusk_core::instance::is_local(domain, &self.instance.domain) {
            return None;
        }
        let mentioned = self.status.mentions.iter().find(|m| m.username.eq_ignore_ascii_case(username))?;
        Some(self.instance.account_url(&mentioned.username))
    }

    fn hashtag(&self, name: &str) -> String {
        self.instance.tag_url(name)
    }
}

/// The app a status was posted from.
#[derive(Clone, Serialize, ToSchema)]
pub struct StatusApplication {
    pub name: String,
    pub website: Option<String>,
}

impl Status {
    pub fn new(instance: &Instance, row: &StatusRow, author: &AccountRow) -> Self {
        Self::by(instance, row, &author.username, Arc::new(Rendered::new(Account::new(instance, author))))
    }

    /// A status whose author (named `username`) is rendered already.
    pub fn by(instance: &Instance, row: &StatusRow, username: &str, account: EmbeddedAccount) -> Self {
        Self {
            id: row.id,
            created_at: time(row.created_at),
            in_reply_to_id: row.in_reply_to_id,
            in_reply_to_account_id: row.in_reply_to_account_id,
            sensitive: row.sensitive,
            spoiler_text: row.spoiler_text.clone(),
            visibility: row.visibility().as_str(),
            language: row.language.clone(),
            uri: instance.status_uri(username, row.id),
            url: instance.status_url(username, row.id),
            replies_count: 0,
            reblogs_count: 0,
            favourites_count: 0,
            edited_at: None,
            favourited: false,
            reblogged: false,
            muted: false,
            bookmarked: false,
            pinned: false,
            content: html::status_to_html(&row.text, &StatusLinks { instance, status: row }),
            filtered: Vec::new(),
            reblog: None,
            application: row.application_name.as_ref().map(|name| StatusApplication {
                name: name.clone(),
                website: row.application_website.clone(),
            }),
            account,
            media_attachments: row.media.iter().map(|media| MediaAttachment::new(instance, media)).collect(),
            mentions: row
                .mentions
                .iter()
                .map(|m| Mention {
                    id: m.id,
                    username: m.username.clone(),
                    url: instance.account_url(&m.username),
                    acct: m.username.clone(),
                })
                .collect(),
            tags: row.tags.iter().map(|name| Tag::named(instance, name)).collect(),
            emojis: Vec::new(),
            card: None,
            poll: None,
            text: None,
        }
    }

    /// The counts, and what the viewer did with the status.
    pub fn with_stats(&mut self, stats: &StatusStats) {
        self.replies_count = stats.replies_count;
        self.reblogs_count = stats.reblogs_count;
        self.favourites_count = stats.favourites_count;
        self.favourited = stats.done.favourited;
        self.reblogged = stats.done.reblogged;
        self.bookmarked = stats.done.bookmarked;
        // only ever true for the viewer's own statuses: nobody pins another's
        self.pinned = stats.done.pinned;
    }
}

/// The thread around a status: what it replies to, oldest first, and the replies below it.
#[derive(Serialize, ToSchema)]
pub struct Context {
    pub ancestors: Vec<Status>,
    pub descendants: Vec<Status>,
}

/// How the signed-in account and another one are related.
#[derive(Serialize, ToSchema)]
pub struct Relationship {
    #[schema(value_type = String)]
    pub id: Id,
    pub following: bool,
    pub showing_reblogs: bool,
    pub notifying: bool,
    pub languages: Option<Vec<String>>,
    pub followed_by: bool,
    pub blocking: bool,
    pub blocked_by: bool,
    pub muting: bool,
    pub muting_notifications: bool,
    pub requested: bool,
    pub requested_by: bool,
    pub domain_blocking: bool,
    pub endorsed: bool,
    pub note: String,
}

impl Relationship {
    /// The Relationship to `target`.
    pub fn new(target: Id, rel: RelationshipRow) -> Self {
        Self {
            id: target,
            following: rel.following,
            showing_reblogs: rel.following,
            notifying: false,
            languages: None,
            followed_by: rel.followed_by,
            blocking: rel.blocking,
            blocked_by: rel.blocked_by,
            muting: rel.muting,
            muting_notifications: rel.muting,
            requested: rel.requested,
            requested_by: rel.requested_by,
            domain_blocking: false,
            endorsed: false,
            note: String::new(),
        }
    }
}

/// A registered client app, with its credentials: the only time the client secret is shown.
#[derive(Serialize, ToSchema)]
pub struct Application {
    #[schema(value_type = String)]
    pub id: Id,
    pub name: String,
    pub website: Option<String>,
    pub scopes: Vec<String>,
    /// The redirect URIs, one per line (Mastodon's older field).
    pub redirect_uri: String,
    pub redirect_uris: Vec<String>,
    pub client_id: String,
    pub client_secret: String,
    pub client_secret_expires_at: i64,
    pub vapid_key: String,
}

/// The answer to `POST /api/v1/apps`.
pub fn application(app: &AppRow, client_secret: &str) -> Application {
    Application {
        id: app.id,
        name: app.name.clone(),
        website: app.website.clone(),
        scopes: app.scopes.split_whitespace().map(str::to_owned).collect(),
        redirect_uri: app.redirect_uris.clone(),
        redirect_uris: app.redirect_uris.lines().map(str::to_owned).collect(),
        client_id: app.client_id.clone(),
        client_secret: client_secret.to_owned(),
        client_secret_expires_at: 0,
        vapid_key: String::new(),
    }
}

/// Doorkeeper's token response (its field names are the protocol's).
#[derive(Serialize, ToSchema)]
#[allow(clippy::struct_field_names)]
pub struct Token {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}

pub fn token(token: &TokenRow, access_token: &str) -> Token {
    Token {
        access_token: access_token.to_owned(),
        token_type: "Bearer",
        scope: token.scopes.clone(),
        created_at: token.created_at.timestamp(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_mastodon_shaped() {
        let t = DateTime::parse_from_rfc3339("2022-11-03T14:05:06.789Z").unwrap().with_timezone(&Utc);
        assert_eq!(time(t), "2022-11-03T14:05:06.789Z");
        assert_eq!(day(t), "2022-11-03T00:00:00.000Z");
    }
}

/// Something that happened to the signed-in account (v1).
#[derive(Serialize, ToSchema)]
pub struct Notification {
    #[schema(value_type = String)]
    pub id: Id,
    /// `mention`, `reblog`, `follow`, `follow_request`, `favourite` (and later `status`,
    /// `poll`, `update`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The group it belongs to in the grouped notifications.
    pub group_key: String,
    /// Who did it.
    #[schema(value_type = Account)]
    pub account: EmbeddedAccount,
    /// The status concerned (mention, reblog, favourite).
    pub status: Option<Status>,
}

impl Notification {
    pub fn new(row: &tusk_store::NotificationRow, account: EmbeddedAccount, status: Option<Status>) -> Self {
        Self {
            id: row.id,
            kind: row.kind.clone(),
            created_at: time(row.created_at),
            group_key: row.group_key.clone(),
            account,
            status,
        }
    }
}

/// One group of notifications (Mastodon 4.3's `NotificationGroup`).
#[derive(Serialize, ToSchema)]
pub struct NotificationGroup {
    pub group_key: String,
    pub notifications_count: i64,
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = String)]
    pub most_recent_notification_id: Id,
    /// In a page: the oldest of the group's notifications the page covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub page_min_id: Option<Id>,
    /// In a page: the group's newest notification.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub page_max_id: Option<Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub latest_page_notification_at: Option<String>,
    /// The latest senders, newest first (at most 8).
    #[schema(value_type = Vec<String>)]
    pub sample_account_ids: Vec<Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub status_id: Option<Id>,
}

impl NotificationGroup {
    pub fn new(view: &tusk_service::GroupView) -> Self {
        let group = &view.group;
        let in_page = view.page_min_id.is_some();
        Self {
            group_key: group.group_key.clone(),
            notifications_count: group.notifications_count,
            kind: group.kind.clone(),
            most_recent_notification_id: group.latest_notification_id,
            page_min_id: view.page_min_id,
            page_max_id: in_page.then_some(group.latest_notification_id),
            latest_page_notification_at: in_page.then(|| time(group.latest_at)),
            sample_account_ids: group.sample_account_ids.clone(),
            status_id: group.status_id.filter(|_| {
                tusk_core::NotificationType::parse(&group.kind)
                    .is_some_and(tusk_core::NotificationType::carries_status)
            }),
        }
    }
}

/// A page of grouped notifications, each account and status once.
#[derive(Serialize, ToSchema)]
pub struct GroupedNotificationsResults {
    #[schema(value_type = Vec<Account>)]
    pub accounts: Vec<EmbeddedAccount>,
    /// With `expand_accounts=partial_avatars`: the sample accounts not in `accounts`, each
    /// with what an avatar row shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial_accounts: Option<Vec<PartialAccountWithAvatar>>,
    pub statuses: Vec<Status>,
    pub notification_groups: Vec<NotificationGroup>,
}

/// What a row of avatars shows of an account.
#[derive(Serialize, ToSchema)]
pub struct PartialAccountWithAvatar {
    #[schema(value_type = String)]
    pub id: Id,
    pub acct: String,
    pub url: String,
    pub avatar: String,
    pub avatar_static: String,
    pub locked: bool,
    pub bot: bool,
}

impl PartialAccountWithAvatar {
    pub fn new(account: &Account) -> Self {
        Self {
            id: account.id,
            acct: account.acct.clone(),
            url: account.url.clone(),
            avatar: account.avatar.clone(),
            avatar_static: account.avatar_static.clone(),
            locked: account.locked,
            bot: account.bot,
        }
    }
}

/// Where the reader stopped in a timeline.
#[derive(Serialize, ToSchema)]
pub struct Marker {
    #[schema(value_type = String)]
    pub last_read_id: Id,
    /// Counts the marker's changes.
    pub version: i32,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl Marker {
    pub fn new(row: &tusk_store::MarkerRow) -> Self {
        Self { last_read_id: row.last_read_id, version: row.version, updated_at: time(row.updated_at) }
    }
}

/// `{"count": N}`.
#[derive(Serialize, ToSchema)]
pub struct UnreadCount {
    pub count: i64,
}

/// `{}`: what Mastodon answers to a dismissal or a clear.
#[derive(Serialize, ToSchema)]
pub struct Empty {}

/// The markers asked or set, by timeline; a timeline without a marker is absent.
#[derive(Default, Serialize, ToSchema)]
pub struct Markers {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home: Option<Marker>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Marker>,
}

impl Markers {
    pub fn new(rows: &[tusk_store::MarkerRow]) -> Self {
        let find = |timeline: &str| rows.iter().find(|row| row.timeline == timeline).map(Marker::new);
        Self { home: find("home"), notifications: find("notifications") }
    }
}

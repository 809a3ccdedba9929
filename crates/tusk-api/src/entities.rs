//! Mastodon's JSON entities, field for field: ids as strings, times in RFC 3339 with
//! milliseconds, `content` as HTML, empty arrays where Tusk has nothing to show.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tusk_core::{Id, Instance, html};
use tusk_store::{AccountRow, AppRow, Relationship, StatusRow, StatusStats, TokenRow};

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Mastodon shows an account's creation day, not its second.
fn day(t: DateTime<Utc>) -> String {
    format!("{}T00:00:00.000Z", t.format("%Y-%m-%d"))
}

#[derive(Serialize)]
pub struct Account {
    pub id: Id,
    pub username: String,
    pub acct: String,
    pub display_name: String,
    pub locked: bool,
    pub bot: bool,
    pub discoverable: bool,
    pub indexable: bool,
    pub group: bool,
    pub created_at: String,
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
    pub last_status_at: Option<String>,
    pub hide_collections: Option<bool>,
    pub emojis: Vec<Value>,
    pub fields: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Value>,
}

impl Account {
    pub fn new(instance: &Instance, row: &AccountRow) -> Self {
        let avatar = format!("{}/avatars/original/missing.png", instance.base_url());
        let header = format!("{}/headers/original/missing.png", instance.base_url());
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
            note: html::status_to_html(&row.note),
            url: instance.account_url(&row.username),
            uri: instance.account_uri(&row.username),
            avatar_static: avatar.clone(),
            avatar,
            header_static: header.clone(),
            header,
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

    /// `verify_credentials` adds what only the owner sees.
    pub fn with_source(mut self, row: &AccountRow, locale: Option<&str>) -> Self {
        self.source = Some(json!({
            "privacy": "public",
            "sensitive": false,
            "language": locale,
            "note": row.note,
            "fields": [],
            "follow_requests_count": 0,
        }));
        self
    }
}

#[derive(Serialize)]
pub struct Status {
    pub id: Id,
    pub created_at: String,
    pub in_reply_to_id: Option<Id>,
    pub in_reply_to_account_id: Option<Id>,
    pub sensitive: bool,
    pub spoiler_text: String,
    pub visibility: &'static str,
    pub language: Option<String>,
    pub uri: String,
    pub url: String,
    pub replies_count: i64,
    pub reblogs_count: i64,
    pub favourites_count: i64,
    pub edited_at: Option<String>,
    pub favourited: bool,
    pub reblogged: bool,
    pub muted: bool,
    pub bookmarked: bool,
    pub pinned: bool,
    pub content: String,
    pub filtered: Vec<Value>,
    pub reblog: Option<Value>,
    pub application: Option<Value>,
    pub account: Account,
    pub media_attachments: Vec<Value>,
    pub mentions: Vec<Value>,
    pub tags: Vec<Value>,
    pub emojis: Vec<Value>,
    pub card: Option<Value>,
    pub poll: Option<Value>,
    /// Only in the answer to a delete (for "delete and redraft"); otherwise absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Status {
    pub fn new(instance: &Instance, row: &StatusRow, author: &AccountRow) -> Self {
        Self {
            id: row.id,
            created_at: time(row.created_at),
            in_reply_to_id: row.in_reply_to_id,
            in_reply_to_account_id: row.in_reply_to_account_id,
            sensitive: row.sensitive,
            spoiler_text: row.spoiler_text.clone(),
            visibility: row.visibility().as_str(),
            language: row.language.clone(),
            uri: instance.status_uri(&author.username, row.id),
            url: instance.status_url(&author.username, row.id),
            replies_count: 0,
            reblogs_count: 0,
            favourites_count: 0,
            edited_at: None,
            favourited: false,
            reblogged: false,
            muted: false,
            bookmarked: false,
            pinned: false,
            content: html::status_to_html(&row.text),
            filtered: Vec::new(),
            reblog: None,
            application: row
                .application_name
                .as_ref()
                .map(|name| json!({ "name": name, "website": row.application_website })),
            account: Account::new(instance, author),
            media_attachments: Vec::new(),
            mentions: Vec::new(),
            tags: Vec::new(),
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
        self.favourited = stats.favourited;
        self.reblogged = stats.reblogged;
    }
}

pub fn relationship(target: Id, rel: Relationship) -> Value {
    json!({
        "id": target,
        "following": rel.following,
        "showing_reblogs": rel.following,
        "notifying": false,
        "languages": null,
        "followed_by": rel.followed_by,
        "blocking": rel.blocking,
        "blocked_by": rel.blocked_by,
        "muting": rel.muting,
        "muting_notifications": rel.muting,
        "requested": false,
        "requested_by": false,
        "domain_blocking": false,
        "endorsed": false,
        "note": "",
    })
}

/// The answer to `POST /api/v1/apps`: the only time the client secret is shown.
pub fn application(app: &AppRow, client_secret: &str) -> Value {
    let redirect_uris: Vec<&str> = app.redirect_uris.lines().collect();
    let scopes: Vec<&str> = app.scopes.split_whitespace().collect();
    json!({
        "id": app.id,
        "name": app.name,
        "website": app.website,
        "scopes": scopes,
        "redirect_uri": app.redirect_uris,
        "redirect_uris": redirect_uris,
        "client_id": app.client_id,
        "client_secret": client_secret,
        "client_secret_expires_at": 0,
        "vapid_key": "",
    })
}

/// Doorkeeper's token response.
pub fn token(token: &TokenRow, access_token: &str) -> Value {
    json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "scope": token.scopes,
        "created_at": token.created_at.timestamp(),
    })
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

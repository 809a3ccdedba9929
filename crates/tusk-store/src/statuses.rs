use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use tusk_core::{Event, Id, Interacted, PageRange, StatusText, Visibility};

use crate::outbox::{self, OutboxEntry};
use crate::paging::{keyset, newest_first};
use crate::{Result, Store, StoreError};

/// A status as stored, with the name of the app that posted it; cached in Redis as it is.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, Serialize, Deserialize)]
pub struct StatusRow {
    pub id: Id,
    pub account_id: Id,
    pub text: String,
    pub spoiler_text: String,
    pub sensitive: bool,
    pub visibility: String,
    pub language: Option<String>,
    pub in_reply_to_id: Option<Id>,
    /// Absent from entries cached before the column existed; they expire within a day.
    #[serde(default)]
    pub in_reply_to_account_id: Option<Id>,
    #[serde(default)]
    pub reblog_of_id: Option<Id>,
    pub application_name: Option<String>,
    pub application_website: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The local accounts it mentions. Absent from entries cached before the column existed
    /// (as the two above): those read as mentioning nobody until they expire.
    #[serde(default)]
    #[sqlx(json)]
    pub mentions: Vec<MentionRow>,
    /// Its hashtags, as first written on this server.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Its attachments, in their order. Absent from entries cached before the column existed:
    /// those (posted before media) have none.
    #[serde(default)]
    #[sqlx(json)]
    pub media: Vec<crate::MediaRow>,
}

/// A local account a status mentions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MentionRow {
    pub id: Id,
    pub username: String,
}

impl StatusRow {
    pub fn visibility(&self) -> Visibility {
        Visibility::parse(&self.visibility).unwrap_or_default()
    }
}

const SELECT_STATUSES: &str = "\
    SELECT s.id, s.account_id, s.text, s.spoiler_text, s.sensitive, s.visibility, s.language, \
           s.in_reply_to_id, s.in_reply_to_account_id, s.reblog_of_id, a.name AS application_name, a.website AS application_website, s.created_at, \
           coalesce((SELECT json_agg(json_build_object('id', ma.id::text, 'username', ma.username) ORDER BY ma.id) \
                     FROM mentions m JOIN accounts ma ON ma.id = m.account_id WHERE m.status_id = s.id), '[]') AS mentions, \
           ARRAY(SELECT t.name FROM statuses_tags st JOIN tags t ON t.id = st.tag_id WHERE st.status_id = s.id ORDER BY lower(t.name)) AS tags, \
           coalesce((SELECT jsonb_agg(tusk_media_json(m) ORDER BY m.position) \
                     FROM media_attachments m WHERE m.status_id = s.id), '[]') AS media \
    FROM statuses s LEFT JOIN oauth_applications a ON a.id = s.application_id \
    WHERE s.id = ANY($1)";

/// The counts of a status, kept in `status_stats` by triggers on every write that moves them;
/// cached in Redis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub replies_count: i64,
    pub reblogs_count: i64,
    pub favourites_count: i64,
}

/// One status of [`Store::page_stats`]: its counts when asked, and what the viewer did with it.
#[derive(Clone, Copy, Debug)]
pub struct PageStats {
    pub id: Id,
    pub counts: Option<StatusCounts>,
    pub done: Interacted,
}

/// What an account did lately with statuses ([`Store::recent_interactions`]): complete for
/// every status whose id is at least `horizon`.
#[derive(Clone, Debug)]
pub struct RecentInteractions {
    /// The statuses of each kind of [`Interacted::KINDS`]: favourited, reblogged, bookmarked,
    /// pinned.
    pub done: [Vec<Id>; 4],
    pub horizon: Id,
}

impl RecentInteractions {
    /// What was done with `id`; `None` when it is older than the horizon (not known).
    pub fn with(&self, id: Id) -> Option<Interacted> {
        (id >= self.horizon)
            .then(|| Interacted::from_flags(std::array::from_fn(|i| self.done[i].contains(&id))))
    }
}

/// The counts of a status and what the viewer did with it.
#[derive(Clone, Debug)]
pub struct StatusStats {
    pub id: Id,
    pub replies_count: i64,
    pub reblogs_count: i64,
    pub favourites_count: i64,
    /// What the viewer did with it (nothing when signed out).
    pub done: Interacted,
}

/// What an account's profile shows of its statuses to one viewer.
#[derive(Clone, Copy, Debug)]
pub struct AccountStatusesFilter {
    /// The viewer follows the author (or is the author): private statuses are shown.
    pub followers_only: bool,
    /// The viewer is the author: direct statuses are shown too.
    pub own: bool,
    /// Replies to other accounts are left out (self-threads stay, as in Mastodon).
    pub exclude_replies: bool,
    pub exclude_reblogs: bool,
    /// Only the statuses the author pinned.
    pub pinned: bool,
    /// Only statuses with attachments.
    pub only_media: bool,
}

/// Keyset paging of a statuses query whose `WHERE` ends with `$1` = `max_id` and `$2` = the
/// lower bound.
fn paged(select_where: &str, range: &PageRange) -> String {
    format!("{select_where} {}", keyset("s.id", 1, range))
}

#[derive(Debug)]
pub struct NewStatus<'a> {
    pub account_id: Id,
    pub text: &'a StatusText,
    pub spoiler_text: &'a str,
    /// `None`: the author's posting default, as for `visibility` and `language`.
    pub sensitive: Option<bool>,
    pub visibility: Option<Visibility>,
    pub language: Option<&'a str>,
    /// The replied-to status, already checked to exist and to be visible to the author.
    pub in_reply_to: Option<&'a StatusRow>,
    pub application_id: Option<Id>,
    /// The sha256 of the request's `Idempotency-Key`, if it sent one.
    pub idempotency_key: Option<&'a [u8]>,
    /// The usernames of the local accounts the text mentions (those that exist are linked).
    pub mentions: &'a [String],
    /// The hashtags of the text.
    pub tags: &'a [String],
    /// The author's processed, unattached uploads to attach, in this order (checked by the
    /// caller; checked again here under the transaction).
    pub media_ids: &'a [Id],
}

/// What [`Store::create_status`] did.
#[derive(Debug)]
pub enum CreatedStatus {
    /// A new status, with the event to publish.
    New(Box<StatusRow>, OutboxEntry),
    /// Nothing: a request with the same `Idempotency-Key` created this status within the hour.
    Existing(Id),
}

/// Stores which local accounts (by username, case-insensitively) a new status mentions and
/// which hashtags it uses (a new tag keeps its first spelling).
async fn link_mentions_and_tags(
    tx: &mut Transaction<'_, Postgres>,
    status: Id,
    mentions: &[String],
    tags: &[String],
) -> Result<()> {
    if !mentions.is_empty() {
        let lowered: Vec<String> = mentions.iter().map(|m| m.to_lowercase()).collect();
        sqlx::query(
            "INSERT INTO mentions (status_id, account_id) \
             SELECT $1, id FROM accounts WHERE lower(username) = ANY($2) ON CONFLICT DO NOTHING",
        )
        .bind(status)
        .bind(lowered)
        .execute(&mut **tx)
        .await?;
    }
    if !tags.is_empty() {
        let lowered: Vec<String> = tags.iter().map(|t| t.to_lowercase()).collect();
        sqlx::query(
            "INSERT INTO tags (name) SELECT unnest($1::text[]) ON CONFLICT ((lower(name))) DO NOTHING",
        )
        .bind(tags)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO statuses_tags (status_id, tag_id) \
             SELECT $1, id FROM tags WHERE lower(name) = ANY($2) ON CONFLICT DO NOTHING",
        )
        .bind(status)
        .bind(lowered)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// How long an `Idempotency-Key` names its status, as in Mastodon: an hour, in seconds.
const IDEMPOTENCY_WINDOW_SECS: f64 = 3600.0;

impl Store {
    /// Stores the status, its `StatusCreated` event and its `Idempotency-Key` in one
    /// transaction. A key already used by the account within the hour creates nothing and
    /// names the status it created; of two requests racing with one key, the second waits on
    /// the key's row and then finds the first's status.
    #[tracing::instrument(name = "pg create_status", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn create_status(&self, new: &NewStatus<'_>) -> Result<CreatedStatus> {
        let mut tx = self.pool.begin().await?;
        if let Some(key) = new.idempotency_key
            && let Some(existing) = idempotent_status(&mut tx, new.account_id, key).await?
        {
            return Ok(CreatedStatus::Existing(existing));
        }
        let id: Id = sqlx::query_scalar(
            "INSERT INTO statuses (account_id, text, spoiler_text, sensitive, visibility, language, \
                                   in_reply_to_id, in_reply_to_account_id, application_id) \
             SELECT $1, $2, $3, coalesce($4, u.default_sensitive, false), \
                    coalesce($5, u.default_privacy, 'public'), coalesce($6, u.default_language), $7, $8, $9 \
             FROM (VALUES (1)) AS one LEFT JOIN users u ON u.account_id = $1 \
             RETURNING id",
        )
        .bind(new.account_id)
        .bind(new.text.as_str())
        .bind(new.spoiler_text)
        .bind(new.sensitive)
        .bind(new.visibility.map(Visibility::as_str))
        .bind(new.language)
        .bind(new.in_reply_to.map(|parent| parent.id))
        .bind(new.in_reply_to.map(|parent| parent.account_id))
        .bind(new.application_id)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(key) = new.idempotency_key {
            // a key older than the window is taken over; a live one means a racing request
            // committed first (this insert waited for it): drop this status, answer with that one
            let claimed: Option<Id> = sqlx::query_scalar(
                "INSERT INTO status_idempotency_keys (account_id, key_digest, status_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (account_id, key_digest) DO UPDATE \
                   SET status_id = EXCLUDED.status_id, created_at = now() \
                   WHERE status_idempotency_keys.created_at <= now() - make_interval(secs => $4) \
                 RETURNING status_id",
            )
            .bind(new.account_id)
            .bind(key)
            .bind(id)
            .bind(IDEMPOTENCY_WINDOW_SECS)
            .fetch_optional(&mut *tx)
            .await?;
            if claimed.is_none() {
                let existing = idempotent_status(&mut tx, new.account_id, key).await?;
                tx.rollback().await?;
                return existing.map(CreatedStatus::Existing).ok_or(StoreError::NotFound);
            }
        }
        sqlx::query("UPDATE accounts SET last_status_at = now() WHERE id = $1")
            .bind(new.account_id)
            .execute(&mut *tx)
            .await?;
        link_mentions_and_tags(&mut tx, id, new.mentions, new.tags).await?;
        if !crate::media::attach(&mut tx, id, new.account_id, new.media_ids).await? {
            // taken by another status, deleted or not done since the caller checked
            return Err(StoreError::Conflict("media_attachments".into()));
        }
        let entry =
            outbox::enqueue(&mut tx, Event::StatusCreated { status_id: id, account_id: new.account_id })
                .await?;
        let status = sqlx::query_as(SELECT_STATUSES).bind(vec![id]).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(CreatedStatus::New(Box::new(status), entry))
    }

    /// Deletes `Idempotency-Key`s older than the window; how many. Run by the workers.
    #[tracing::instrument(name = "pg expire_idempotency_keys", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn expire_idempotency_keys(&self) -> Result<u64> {
        let deleted = sqlx::query(
            "DELETE FROM status_idempotency_keys WHERE created_at <= now() - make_interval(secs => $1)",
        )
        .bind(IDEMPOTENCY_WINDOW_SECS)
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }

    /// The statuses with these ids that exist, in no particular order.
    #[tracing::instrument(name = "pg statuses", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn statuses(&self, ids: &[Id]) -> Result<Vec<StatusRow>> {
        Ok(sqlx::query_as(SELECT_STATUSES).bind(ids).fetch_all(&self.pool).await?)
    }

    #[tracing::instrument(name = "pg status", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn status(&self, id: Id) -> Result<StatusRow> {
        self.statuses(&[id]).await?.pop().ok_or(StoreError::NotFound)
    }

    /// One page of the local public timeline: public statuses that are neither reblogs nor
    /// replies to others (Mastodon's `PublicFeed`), without the accounts `viewer` blocks, is
    /// blocked by or mutes.
    #[tracing::instrument(name = "pg public_timeline_ids", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn public_timeline_ids(
        &self,
        range: &PageRange,
        viewer: Option<Id>,
        only_media: bool,
    ) -> Result<Vec<Id>> {
        let sql = paged(
            "SELECT s.id FROM statuses s \
             WHERE s.visibility = 'public' AND s.reblog_of_id IS NULL \
               AND (s.in_reply_to_id IS NULL OR s.in_reply_to_account_id = s.account_id) \
               AND (NOT $4 OR EXISTS (SELECT 1 FROM media_attachments m WHERE m.status_id = s.id)) \
               AND ($3::bigint IS NULL OR NOT EXISTS ( \
                     SELECT 1 FROM blocks b \
                     WHERE (b.account_id = $3 AND b.target_account_id = s.account_id) \
                        OR (b.account_id = s.account_id AND b.target_account_id = $3) \
                     UNION ALL \
                     SELECT 1 FROM mutes m WHERE m.account_id = $3 AND m.target_account_id = s.account_id))",
            range,
        );
        // only constant text, the order direction and the numeric limit are formatted in
        let ids = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(range.max_id)
            .bind(range.lower())
            .bind(viewer)
            .bind(only_media)
            .fetch_all(&self.pool)
            .await?;
        Ok(newest_first(ids, range))
    }

    /// One page of `account_id`'s own statuses and reblogs, as `filter` allows a viewer to see.
    #[tracing::instrument(name = "pg account_status_ids", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn account_status_ids(
        &self,
        account_id: Id,
        filter: AccountStatusesFilter,
        range: &PageRange,
    ) -> Result<Vec<Id>> {
        // the pinned ones are read from the pins (at most 5), not from all the account's statuses
        let from = if filter.pinned {
            "FROM status_pins p JOIN statuses s ON s.id = p.status_id WHERE p.account_id = $3"
        } else {
            "FROM statuses s WHERE s.account_id = $3"
        };
        let sql = paged(
            &format!(
                "SELECT s.id {from} \
                   AND (s.visibility IN ('public', 'unlisted') \
                        OR (s.visibility = 'private' AND $4) OR (s.visibility = 'direct' AND $5)) \
                   AND (NOT $6 OR s.in_reply_to_id IS NULL OR s.in_reply_to_account_id = s.account_id) \
                   AND (NOT $7 OR s.reblog_of_id IS NULL) \
                   AND (NOT $8 OR EXISTS (SELECT 1 FROM media_attachments m WHERE m.status_id = s.id))"
            ),
            range,
        );
        // only constant text, the order direction and the numeric limit are formatted in
        let ids = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(range.max_id)
            .bind(range.lower())
            .bind(account_id)
            .bind(filter.followers_only || filter.own)
            .bind(filter.own)
            .bind(filter.exclude_replies)
            .bind(filter.exclude_reblogs)
            .bind(filter.only_media)
            .fetch_all(&self.pool)
            .await?;
        Ok(newest_first(ids, range))
    }

    /// The newest `limit` statuses of `account_id` that its followers see in their home feeds.
    #[tracing::instrument(name = "pg recent_status_ids_for_followers", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn recent_status_ids_for_followers(&self, account_id: Id, limit: i64) -> Result<Vec<Id>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM statuses WHERE account_id = $1 AND visibility <> 'direct' \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(account_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest entries of `account_id`'s home timeline, computed from the source of truth when
    /// the Redis feed is missing. The work is bounded: at most `per_account` statuses from each
    /// followed account (and from the user), newest `limit` of those kept.
    #[tracing::instrument(name = "pg home_timeline_ids", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn home_timeline_ids(&self, account_id: Id, per_account: i64, limit: i64) -> Result<Vec<Id>> {
        Ok(sqlx::query_scalar(
            "SELECT s.id FROM \
               (SELECT target_account_id AS author FROM follows WHERE account_id = $1 \
                  AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.account_id = $1 \
                                    AND m.target_account_id = follows.target_account_id) \
                UNION ALL SELECT $1) f \
             CROSS JOIN LATERAL \
               (SELECT id FROM statuses \
                WHERE account_id = f.author AND (visibility <> 'direct' OR account_id = $1) \
                ORDER BY id DESC LIMIT $2) s \
             ORDER BY s.id DESC LIMIT $3",
        )
        .bind(account_id)
        .bind(per_account)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The statuses `account` favourited, the originals it reblogged, the statuses it
    /// bookmarked and pinned, newest first, at most `limit` of each (four index scans).
    #[tracing::instrument(name = "pg recent_interactions", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn recent_interactions(&self, account: Id, limit: i64) -> Result<RecentInteractions> {
        let rows: Vec<(i32, Id)> = sqlx::query_as(
            "(SELECT 0, status_id FROM favourites WHERE account_id = $1 ORDER BY status_id DESC LIMIT $2) \
             UNION ALL \
             (SELECT 1, reblog_of_id FROM statuses WHERE account_id = $1 AND reblog_of_id IS NOT NULL \
               ORDER BY reblog_of_id DESC LIMIT $2) \
             UNION ALL \
             (SELECT 2, status_id FROM bookmarks WHERE account_id = $1 ORDER BY status_id DESC LIMIT $2) \
             UNION ALL \
             (SELECT 3, status_id FROM status_pins WHERE account_id = $1 ORDER BY status_id DESC LIMIT $2)",
        )
        .bind(account)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut done: [Vec<Id>; 4] = Default::default();
        for (kind, id) in rows {
            if let Some(ids) = usize::try_from(kind).ok().and_then(|kind| done.get_mut(kind)) {
                ids.push(id);
            }
        }
        // a list cut at the limit is complete only down to its oldest entry
        let floor = |ids: &Vec<Id>| if ids.len() as i64 >= limit { ids.last().copied() } else { None };
        let horizon = done.iter().filter_map(floor).max().unwrap_or(Id(0));
        Ok(RecentInteractions { done, horizon })
    }

    /// For each of `ids`: what `viewer` did with it and, for those also in `counted`, its
    /// counts, in one query of index lookups (the counters, the favourites' primary key, the
    /// one-reblog-per-account index, the bookmarks' and pins' unique keys).
    #[tracing::instrument(name = "pg page_stats", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn page_stats(&self, ids: &[Id], counted: &[Id], viewer: Option<Id>) -> Result<Vec<PageStats>> {
        type Row = (Id, Option<i64>, Option<i64>, Option<i64>, bool, bool, bool, bool);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT s.id, \
               CASE WHEN s.id = ANY($2) THEN coalesce(c.replies_count, 0) END, \
               CASE WHEN s.id = ANY($2) THEN coalesce(c.reblogs_count, 0) END, \
               CASE WHEN s.id = ANY($2) THEN coalesce(c.favourites_count, 0) END, \
               $3::bigint IS NOT NULL AND EXISTS \
                 (SELECT 1 FROM favourites f WHERE f.status_id = s.id AND f.account_id = $3), \
               $3::bigint IS NOT NULL AND EXISTS \
                 (SELECT 1 FROM statuses b WHERE b.account_id = $3 AND b.reblog_of_id = s.id), \
               $3::bigint IS NOT NULL AND EXISTS \
                 (SELECT 1 FROM bookmarks k WHERE k.account_id = $3 AND k.status_id = s.id), \
               $3::bigint IS NOT NULL AND EXISTS \
                 (SELECT 1 FROM status_pins p WHERE p.account_id = $3 AND p.status_id = s.id) \
             FROM unnest($1::bigint[]) AS s(id) \
             LEFT JOIN status_stats c ON c.status_id = s.id AND s.id = ANY($2)",
        )
        .bind(ids)
        .bind(counted)
        .bind(viewer)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, replies, reblogs, favourites, favourited, reblogged, bookmarked, pinned)| PageStats {
                id,
                counts: replies.zip(reblogs).zip(favourites).map(|((replies, reblogs), favourites)| {
                    StatusCounts {
                        replies_count: replies,
                        reblogs_count: reblogs,
                        favourites_count: favourites,
                    }
                }),
                done: Interacted { favourited, reblogged, bookmarked, pinned },
            })
            .collect())
    }

    /// Favourites `status_id` for `account_id` with its `Favourited` event (the author's
    /// notification, when `notify`), in one transaction; favouriting twice changes nothing and
    /// has no event.
    #[tracing::instrument(name = "pg favourite", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn favourite(
        &self,
        account_id: Id,
        status_id: Id,
        notify: bool,
    ) -> Result<Option<OutboxEntry>> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO favourites (account_id, status_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(account_id)
        .bind(status_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let entry = if inserted == 1 && notify {
            Some(outbox::enqueue(&mut tx, Event::Favourited { account_id, status_id }).await?)
        } else {
            None
        };
        tx.commit().await?;
        Ok(entry)
    }

    /// Takes a favourite back, and its notification with it (Mastodon's favourite has its
    /// notification `dependent: :destroy`), in one transaction; the notification's group is
    /// summed up again by the delete trigger.
    #[tracing::instrument(name = "pg unfavourite", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn unfavourite(&self, account_id: Id, status_id: Id) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let removed = sqlx::query("DELETE FROM favourites WHERE account_id = $1 AND status_id = $2")
            .bind(account_id)
            .bind(status_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed > 0 {
            // through `notifications_once`: one probe, however many favourites the status has
            sqlx::query(
                "DELETE FROM notifications \
                 WHERE account_id = (SELECT account_id FROM statuses WHERE id = $2) AND type = 'favourite' \
                   AND from_account_id = $1 AND coalesce(status_id, 0) = $2",
            )
            .bind(account_id)
            .bind(status_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Reblogs `original` for `account_id` with its `StatusCreated` event, in one transaction.
    /// A second reblog of the same status returns the first, with no event.
    #[tracing::instrument(name = "pg reblog", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn reblog(
        &self,
        account_id: Id,
        original: &StatusRow,
        visibility: Visibility,
        application_id: Option<Id>,
    ) -> Result<(StatusRow, Option<OutboxEntry>)> {
        let mut tx = self.pool.begin().await?;
        let inserted: Option<Id> = sqlx::query_scalar(
            "INSERT INTO statuses (account_id, text, visibility, reblog_of_id, application_id) \
             VALUES ($1, '', $2, $3, $4) \
             ON CONFLICT (account_id, reblog_of_id) WHERE reblog_of_id IS NOT NULL DO NOTHING RETURNING id",
        )
        .bind(account_id)
        .bind(visibility.as_str())
        .bind(original.id)
        .bind(application_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (id, entry) = if let Some(id) = inserted {
            let entry = outbox::enqueue(&mut tx, Event::StatusCreated { status_id: id, account_id }).await?;
            (id, Some(entry))
        } else {
            let id =
                sqlx::query_scalar("SELECT id FROM statuses WHERE account_id = $1 AND reblog_of_id = $2")
                    .bind(account_id)
                    .bind(original.id)
                    .fetch_one(&mut *tx)
                    .await?;
            (id, None)
        };
        let reblog = sqlx::query_as(SELECT_STATUSES).bind(vec![id]).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok((reblog, entry))
    }

    /// Deletes `account_id`'s reblog of `original_id` with its `StatusDeleted` event; `None`
    /// when there was none.
    #[tracing::instrument(name = "pg unreblog", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn unreblog(&self, account_id: Id, original_id: Id) -> Result<Option<(Id, OutboxEntry)>> {
        let mut tx = self.pool.begin().await?;
        let deleted: Option<Id> = sqlx::query_scalar(
            "DELETE FROM statuses WHERE account_id = $1 AND reblog_of_id = $2 RETURNING id",
        )
        .bind(account_id)
        .bind(original_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = deleted else { return Ok(None) };
        let entry = outbox::enqueue(&mut tx, Event::StatusDeleted { status_id: id, account_id }).await?;
        tx.commit().await?;
        Ok(Some((id, entry)))
    }

    /// The ids of a status's thread: its ancestors (oldest first, at most 40) and its
    /// descendants (in id order, at most 60), reblogs left out.
    #[tracing::instrument(name = "pg thread", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn thread(&self, id: Id) -> Result<(Vec<Id>, Vec<Id>)> {
        let ancestors: Vec<Id> = sqlx::query_scalar(
            "WITH RECURSIVE up(id, parent, depth) AS ( \
               SELECT id, in_reply_to_id, 0 FROM statuses WHERE id = $1 \
               UNION ALL \
               SELECT s.id, s.in_reply_to_id, up.depth + 1 FROM statuses s JOIN up ON s.id = up.parent \
               WHERE up.depth < 40) \
             SELECT id FROM up WHERE id <> $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let descendants: Vec<Id> = sqlx::query_scalar(
            "WITH RECURSIVE down(id, depth) AS ( \
               SELECT id, 0 FROM statuses WHERE in_reply_to_id = $1 AND reblog_of_id IS NULL \
               UNION ALL \
               SELECT s.id, down.depth + 1 FROM statuses s JOIN down ON s.in_reply_to_id = down.id \
               WHERE down.depth < 60 AND s.reblog_of_id IS NULL) \
             SELECT id FROM down ORDER BY id LIMIT 60",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok((ancestors, descendants))
    }

    /// Deletes `account_id`'s status `id` with its `StatusDeleted` event, in one transaction.
    /// `NotFound` when there is no such status of that account.
    #[tracing::instrument(name = "pg delete_status", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn delete_status(&self, account_id: Id, id: Id) -> Result<(StatusRow, OutboxEntry)> {
        let mut tx = self.pool.begin().await?;
        let status: StatusRow = sqlx::query_as(SELECT_STATUSES)
            .bind(vec![id])
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        if status.account_id != account_id {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM statuses WHERE id = $1").bind(id).execute(&mut *tx).await?;
        let entry = outbox::enqueue(&mut tx, Event::StatusDeleted { status_id: id, account_id }).await?;
        tx.commit().await?;
        Ok((status, entry))
    }
}

/// The status that `account`'s `Idempotency-Key` (digest) created within the window, if any.
async fn idempotent_status(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    account: Id,
    key: &[u8],
) -> Result<Option<Id>> {
    Ok(sqlx::query_scalar(
        "SELECT status_id FROM status_idempotency_keys \
         WHERE account_id = $1 AND key_digest = $2 AND created_at > now() - make_interval(secs => $3)",
    )
    .bind(account)
    .bind(key)
    .bind(IDEMPOTENCY_WINDOW_SECS)
    .fetch_optional(&mut **tx)
    .await?)
}

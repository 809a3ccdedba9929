//! Media attachments and profile pictures: the rows (the bytes are in object storage, under the
//! keys these rows name). An upload is a row in `processing` with its outbox event, written in
//! one transaction; a worker turns it `done` (with its variants' keys) or `failed` (with why).

use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{Postgres, Transaction};
use tusk_core::{Event, Id, ProfileImage};

use crate::outbox::{self, OutboxEntry};
use crate::{Result, Store, StoreError};

/// An attachment as rendered (`tusk_media_json` in the migration); cached in Redis within its
/// status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaRow {
    pub id: Id,
    pub account_id: Id,
    pub status_id: Option<Id>,
    /// `image`, `gifv`, `video`; `unknown` until processed.
    pub kind: String,
    /// `processing`, `done` or `failed`.
    pub state: String,
    /// Why processing failed.
    pub error: Option<String>,
    pub original_key: Option<String>,
    pub small_key: Option<String>,
    /// Mastodon's `meta` without `focus`.
    pub meta: serde_json::Value,
    pub description: String,
    pub focus_x: f64,
    pub focus_y: f64,
    pub blurhash: Option<String>,
    /// Whether a worker has taken it up.
    #[serde(default)]
    pub started: bool,
}

impl MediaRow {
    pub fn is_done(&self) -> bool {
        self.state == "done"
    }

    pub fn is_failed(&self) -> bool {
        self.state == "failed"
    }
}

/// The objects of one attachment in storage, to delete with it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MediaKeys {
    pub id: Id,
    pub upload_key: Option<String>,
    pub thumbnail_key: Option<String>,
    pub original_key: Option<String>,
    pub small_key: Option<String>,
}

impl MediaKeys {
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        [&self.upload_key, &self.thumbnail_key, &self.original_key, &self.small_key]
            .into_iter()
            .filter_map(|key| key.as_deref())
    }
}

/// An upload whose bytes are already in storage.
#[derive(Debug)]
pub struct NewMedia<'a> {
    pub account_id: Id,
    /// `image` or `video`, from the upload's bytes (a GIF may become `gifv` once processed).
    pub kind: &'a str,
    pub token: &'a str,
    pub upload_key: &'a str,
    pub thumbnail_key: Option<&'a str>,
    pub description: &'a str,
    pub focus: (f64, f64),
    pub file_size: i64,
}

/// What a worker made of an upload.
#[derive(Debug)]
pub struct ProcessedMedia<'a> {
    pub kind: &'a str,
    pub original_key: &'a str,
    pub small_key: &'a str,
    pub meta: serde_json::Value,
    pub blurhash: &'a str,
    pub file_size: i64,
}

/// The raw upload a worker processes.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PendingMedia {
    pub id: Id,
    pub account_id: Id,
    pub state: String,
    pub token: String,
    pub upload_key: Option<String>,
    pub thumbnail_key: Option<String>,
}

/// The columns of `MediaKeys`, for `RETURNING`.
const KEYS: &str = "id, upload_key, thumbnail_key, original_key, small_key";

/// Adds `media_ids` to a status being posted, in their order: each must be `account`'s, done
/// and not attached elsewhere. `false` (and nothing written) when one is not.
pub(crate) async fn attach(
    tx: &mut Transaction<'_, Postgres>,
    status: Id,
    account: Id,
    media_ids: &[Id],
) -> Result<bool> {
    if media_ids.is_empty() {
        return Ok(true);
    }
    let ids: Vec<i64> = media_ids.iter().map(|id| id.0).collect();
    let attached = sqlx::query(
        "UPDATE media_attachments m SET status_id = $1, position = o.position \
         FROM unnest($3::bigint[]) WITH ORDINALITY AS o(id, position) \
         WHERE m.id = o.id AND m.account_id = $2 AND m.status_id IS NULL AND m.state = 'done'",
    )
    .bind(status)
    .bind(account)
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    Ok(attached.rows_affected() == ids.len() as u64)
}

impl Store {
    /// Stores an upload (its bytes already in storage) with its `MediaUploaded` event.
    #[tracing::instrument(name = "pg create_media", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn create_media(&self, new: &NewMedia<'_>) -> Result<(MediaRow, OutboxEntry)> {
        let mut tx = self.pool.begin().await?;
        let Json(row): Json<MediaRow> = sqlx::query_scalar(
            "INSERT INTO media_attachments (account_id, token, upload_key, thumbnail_key, description, \
                                            focus_x, focus_y, file_size, kind) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING tusk_media_json(media_attachments)",
        )
        .bind(new.account_id)
        .bind(new.token)
        .bind(new.upload_key)
        .bind(new.thumbnail_key)
        .bind(new.description)
        .bind(new.focus.0)
        .bind(new.focus.1)
        .bind(new.file_size)
        .bind(new.kind)
        .fetch_one(&mut *tx)
        .await?;
        let entry =
            outbox::enqueue(&mut tx, Event::MediaUploaded { media_id: row.id, account_id: new.account_id })
                .await?;
        tx.commit().await?;
        Ok((row, entry))
    }

    /// The attachments with these ids, in no particular order.
    #[tracing::instrument(name = "pg media", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn media(&self, ids: &[Id]) -> Result<Vec<MediaRow>> {
        let rows: Vec<Json<MediaRow>> =
            sqlx::query_scalar("SELECT tusk_media_json(m) FROM media_attachments m WHERE m.id = ANY($1)")
                .bind(ids)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|Json(row)| row).collect())
    }

    /// Changes the description or focus (`None` leaves it) of `account`'s attachment.
    #[tracing::instrument(name = "pg update_media", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn update_media(
        &self,
        account: Id,
        id: Id,
        description: Option<&str>,
        focus: Option<(f64, f64)>,
    ) -> Result<MediaRow> {
        let Json(row): Json<MediaRow> = sqlx::query_scalar(
            "UPDATE media_attachments SET description = coalesce($3, description), \
                    focus_x = coalesce($4, focus_x), focus_y = coalesce($5, focus_y) \
             WHERE id = $1 AND account_id = $2 RETURNING tusk_media_json(media_attachments)",
        )
        .bind(id)
        .bind(account)
        .bind(description)
        .bind(focus.map(|f| f.0))
        .bind(focus.map(|f| f.1))
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(row)
    }

    /// Deletes `account`'s attachment if no status holds it: its keys, to delete from storage;
    /// `Ok(None)` when a status holds it (nothing deleted).
    #[tracing::instrument(name = "pg delete_media", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn delete_unattached_media(&self, account: Id, id: Id) -> Result<Option<MediaKeys>> {
        let mut tx = self.pool.begin().await?;
        let attached: Option<bool> = sqlx::query_scalar(
            "SELECT status_id IS NOT NULL FROM media_attachments WHERE id = $1 AND account_id = $2 FOR UPDATE",
        )
        .bind(id)
        .bind(account)
        .fetch_optional(&mut *tx)
        .await?;
        match attached {
            None => Err(StoreError::NotFound),
            Some(true) => Ok(None),
            Some(false) => {
                let keys = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM media_attachments WHERE id = $1 RETURNING {KEYS}"
                )))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(keys))
            }
        }
    }

    /// The upload a worker is to process; `NotFound` when it was deleted meanwhile.
    #[tracing::instrument(name = "pg pending_media", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn pending_media(&self, id: Id) -> Result<PendingMedia> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, state, token, upload_key, thumbnail_key FROM media_attachments WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Notes that a worker took the upload up (the api stops waiting for an upload that waits
    /// in a backlog).
    #[tracing::instrument(name = "pg start_media", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn start_media(&self, id: Id) -> Result<()> {
        sqlx::query("UPDATE media_attachments SET started_at = now() WHERE id = $1 AND state = 'processing'")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks an upload processed, with its variants; `false` when it is not processing any
    /// more (deleted, or done by an earlier delivery of the job): the caller then deletes the
    /// variants it stored.
    #[tracing::instrument(name = "pg finish_media", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn finish_media(&self, id: Id, done: &ProcessedMedia<'_>) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE media_attachments SET state = 'done', kind = $2, original_key = $3, small_key = $4, \
                    meta = $5, blurhash = $6, file_size = $7, upload_key = NULL, thumbnail_key = NULL, \
                    processed_at = now() \
             WHERE id = $1 AND state = 'processing'",
        )
        .bind(id)
        .bind(done.kind)
        .bind(done.original_key)
        .bind(done.small_key)
        .bind(&done.meta)
        .bind(done.blurhash)
        .bind(done.file_size)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Marks an upload failed with `error` (what the client is told); the raw upload's keys,
    /// to delete. `None` when it is not processing any more.
    #[tracing::instrument(name = "pg fail_media", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn fail_media(&self, id: Id, error: &str) -> Result<Option<MediaKeys>> {
        // the old keys: an UPDATE's RETURNING sees the new row
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE media_attachments m SET state = 'failed', error = $2, upload_key = NULL, thumbnail_key = NULL \
             FROM (SELECT {KEYS} FROM media_attachments WHERE id = $1 AND state = 'processing' FOR UPDATE) old \
             WHERE m.id = old.id RETURNING old.id, old.upload_key, old.thumbnail_key, old.original_key, old.small_key"
        )))
        .bind(id)
        .bind(error)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Marks failed the uploads still processing after `max_age` (their job was lost or parked):
    /// no upload stays "processing" forever. Their raw uploads' keys, to delete.
    #[tracing::instrument(name = "pg fail_stalled_media", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn fail_stalled_media(
        &self,
        max_age: std::time::Duration,
        error: &str,
    ) -> Result<Vec<MediaKeys>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE media_attachments m SET state = 'failed', error = $2, upload_key = NULL, thumbnail_key = NULL \
             FROM (SELECT {KEYS} FROM media_attachments \
                   WHERE status_id IS NULL AND state = 'processing' AND created_at < now() - make_interval(secs => $1) \
                   ORDER BY created_at LIMIT 500 FOR UPDATE SKIP LOCKED) old \
             WHERE m.id = old.id RETURNING old.id, old.upload_key, old.thumbnail_key, old.original_key, old.small_key"
        )))
        .bind(max_age.as_secs_f64())
        .bind(error)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Up to `limit` attachments no status holds, older than `max_age` (never attached, or
    /// their status was deleted): their keys. The caller deletes the objects, then the rows
    /// ([`Store::delete_media_rows`]), so that a crash in between leaves rows to retry, never
    /// objects nobody knows of.
    #[tracing::instrument(name = "pg unattached_media", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn unattached_media(&self, max_age: std::time::Duration, limit: i64) -> Result<Vec<MediaKeys>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {KEYS} FROM media_attachments \
             WHERE status_id IS NULL AND created_at < now() - make_interval(secs => $1) \
             ORDER BY created_at LIMIT $2"
        )))
        .bind(max_age.as_secs_f64())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes the rows of attachments whose objects are gone, unless a status took one
    /// meanwhile; how many.
    #[tracing::instrument(name = "pg delete_media_rows", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn delete_media_rows(&self, ids: &[Id]) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM media_attachments WHERE id = ANY($1) AND status_id IS NULL")
            .bind(ids)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }

    /// Stores a new avatar or header's raw upload with its event, in one transaction.
    #[tracing::instrument(name = "pg queue_profile_image", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn queue_profile_image(
        &self,
        account: Id,
        image: ProfileImage,
        upload_key: &str,
    ) -> Result<OutboxEntry> {
        let mut tx = self.pool.begin().await?;
        let entry = outbox::enqueue(
            &mut tx,
            Event::ProfileImageUploaded { account_id: account, image, upload_key: upload_key.to_owned() },
        )
        .await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Puts processed variants on the profile; the keys they replace, to delete.
    #[tracing::instrument(name = "pg set_profile_image", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn set_profile_image(
        &self,
        account: Id,
        image: ProfileImage,
        original_key: &str,
        static_key: &str,
    ) -> Result<Vec<String>> {
        let (original, still) = match image {
            ProfileImage::Avatar => ("avatar_key", "avatar_static_key"),
            ProfileImage::Header => ("header_key", "header_static_key"),
        };
        // only the two constant column names are formatted in
        let replaced: Option<(Option<String>, Option<String>)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE accounts a SET {original} = $2, {still} = $3 \
             FROM (SELECT id, {original}, {still} FROM accounts WHERE id = $1 FOR UPDATE) old \
             WHERE a.id = old.id RETURNING old.{original}, old.{still}"
            )))
            .bind(account)
            .bind(original_key)
            .bind(static_key)
            .fetch_optional(&self.pool)
            .await?;
        let (old, old_static) = replaced.ok_or(StoreError::NotFound)?;
        let mut keys: Vec<String> = old.into_iter().collect();
        keys.extend(old_static.filter(|key| !keys.contains(key)));
        Ok(keys)
    }
}

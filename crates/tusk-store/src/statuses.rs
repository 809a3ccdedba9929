use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tusk_core::{Event, Id, StatusText, Visibility};

use crate::outbox::{self, OutboxEntry};
use crate::{Result, Store, StoreError};

/// A status as stored, with the name of the app that posted it; cached in Redis as it is.
#[derive(Clone, Debug, sqlx::FromRow, Serialize, Deserialize)]
pub struct StatusRow {
    pub id: Id,
    pub account_id: Id,
    pub text: String,
    pub spoiler_text: String,
    pub sensitive: bool,
    pub visibility: String,
    pub language: Option<String>,
    pub in_reply_to_id: Option<Id>,
    pub application_name: Option<String>,
    pub application_website: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl StatusRow {
    pub fn visibility(&self) -> Visibility {
        Visibility::parse(&self.visibility).unwrap_or_default()
    }
}

const SELECT_STATUSES: &str = "\
    SELECT s.id, s.account_id, s.text, s.spoiler_text, s.sensitive, s.visibility, s.language, \
           s.in_reply_to_id, a.name AS application_name, a.website AS application_website, s.created_at \
    FROM statuses s LEFT JOIN oauth_applications a ON a.id = s.application_id \
    WHERE s.id = ANY($1)";

#[derive(Debug)]
pub struct NewStatus<'a> {
    pub account_id: Id,
    pub text: &'a StatusText,
    pub spoiler_text: &'a str,
    pub sensitive: bool,
    pub visibility: Visibility,
    pub language: Option<&'a str>,
    pub in_reply_to_id: Option<Id>,
    pub application_id: Option<Id>,
}

impl Store {
    /// Stores the status and its `StatusCreated` event in one transaction.
    #[tracing::instrument(name = "pg create_status", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn create_status(&self, new: &NewStatus<'_>) -> Result<(StatusRow, OutboxEntry)> {
        let mut tx = self.pool.begin().await?;
        let id: Id = sqlx::query_scalar(
            "INSERT INTO statuses (account_id, text, spoiler_text, sensitive, visibility, language, \
                                   in_reply_to_id, application_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(new.account_id)
        .bind(new.text.as_str())
        .bind(new.spoiler_text)
        .bind(new.sensitive)
        .bind(new.visibility.as_str())
        .bind(new.language)
        .bind(new.in_reply_to_id)
        .bind(new.application_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE accounts SET last_status_at = now() WHERE id = $1")
            .bind(new.account_id)
            .execute(&mut *tx)
            .await?;
        let entry =
            outbox::enqueue(&mut tx, Event::StatusCreated { status_id: id, account_id: new.account_id })
                .await?;
        let status = sqlx::query_as(SELECT_STATUSES).bind(vec![id]).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok((status, entry))
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

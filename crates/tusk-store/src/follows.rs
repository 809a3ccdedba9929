use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use tusk_core::{Event, Id};

use crate::outbox::{self, OutboxEntry};
use crate::{Result, Store, StoreError};

/// The follow state between two accounts, seen from the first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relationship {
    pub following: bool,
    pub followed_by: bool,
    pub blocking: bool,
    pub blocked_by: bool,
    pub muting: bool,
    /// A follow request from the account to the target waits for the target's answer.
    pub requested: bool,
    /// A follow request from the target to the account waits for the account's answer.
    pub requested_by: bool,
}

impl Relationship {
    /// Whether the target's statuses belong in the account's home feed.
    pub fn feeds_home(&self) -> bool {
        self.following && !self.muting
    }
}

/// The flags of a `Relationship`, in the order the queries select them.
type RelationshipRow = (bool, bool, bool, bool, bool, bool, bool);
/// The same, after the target's id.
type TargetRelationshipRow = (Id, bool, bool, bool, bool, bool, bool, bool);

impl From<RelationshipRow> for Relationship {
    fn from(row: RelationshipRow) -> Self {
        let (following, followed_by, blocking, blocked_by, muting, requested, requested_by) = row;
        Self { following, followed_by, blocking, blocked_by, muting, requested, requested_by }
    }
}

/// A list of accounts kept for an account, paged by the id of the row that puts each in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountList {
    /// The accounts following it.
    Followers,
    /// The accounts it follows.
    Following,
    /// The accounts it blocks (only its owner sees this list).
    Blocked,
    /// The accounts it mutes (only its owner sees this list).
    Muted,
}

impl AccountList {
    /// The table, the owner's column and the listed account's column.
    fn columns(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Followers => ("follows", "target_account_id", "account_id"),
            Self::Following => ("follows", "account_id", "target_account_id"),
            Self::Blocked => ("blocks", "account_id", "target_account_id"),
            Self::Muted => ("mutes", "account_id", "target_account_id"),
        }
    }
}

/// `NotFound` unless the account exists.
async fn ensure_account(tx: &mut Transaction<'_, Postgres>, id: Id) -> Result<()> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)")
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    if exists { Ok(()) } else { Err(StoreError::NotFound) }
}

/// Withdraws `account_id`'s pending follow request to `target`, if any; true when there was one.
pub(crate) async fn delete_request(
    tx: &mut Transaction<'_, Postgres>,
    account_id: Id,
    target: Id,
) -> Result<bool> {
    let deleted = sqlx::query("DELETE FROM follow_requests WHERE account_id = $1 AND target_account_id = $2")
        .bind(account_id)
        .bind(target)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if deleted == 1 {
        // the request's notification goes with it, as in Mastodon
        sqlx::query(
            "DELETE FROM notifications \
             WHERE account_id = $2 AND type = 'follow_request' AND from_account_id = $1 AND status_id IS NULL",
        )
        .bind(account_id)
        .bind(target)
        .execute(&mut **tx)
        .await?;
    }
    Ok(deleted == 1)
}

impl Store {
    /// Makes `account_id` follow `target`, or, when `target` is locked, asks it to (a follow
    /// request, which the target authorizes or rejects), as Mastodon's `FollowService` does.
    /// Returns the `FollowCreated` event when a follow is new, `FollowRequested` when a request
    /// is; `None` when either already existed or a block stands between them. `NotFound` when
    /// the target does not exist.
    #[tracing::instrument(name = "pg follow", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn follow(&self, account_id: Id, target: Id) -> Result<Option<OutboxEntry>> {
        let mut tx = self.pool.begin().await?;
        let locked: bool = sqlx::query_scalar("SELECT locked FROM accounts WHERE id = $1")
            .bind(target)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let entry = if locked {
            // an existing follow stays (it was accepted, or made before the account was locked)
            let requested = sqlx::query(
                "INSERT INTO follow_requests (account_id, target_account_id) SELECT $1, $2 \
                 WHERE NOT EXISTS (SELECT 1 FROM blocks WHERE (account_id = $1 AND target_account_id = $2) \
                                                          OR (account_id = $2 AND target_account_id = $1)) \
                   AND NOT EXISTS (SELECT 1 FROM follows WHERE account_id = $1 AND target_account_id = $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(account_id)
            .bind(target)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let event = Event::FollowRequested { account_id, target_account_id: target };
            if requested == 1 { Some(outbox::enqueue(&mut tx, event).await?) } else { None }
        } else {
            let followed = sqlx::query(
                "INSERT INTO follows (account_id, target_account_id) SELECT $1, $2 \
                 WHERE NOT EXISTS (SELECT 1 FROM blocks WHERE (account_id = $1 AND target_account_id = $2) \
                                                          OR (account_id = $2 AND target_account_id = $1)) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(account_id)
            .bind(target)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // a request made while the target was locked is answered by following now
            delete_request(&mut tx, account_id, target).await?;
            let event = Event::FollowCreated { account_id, target_account_id: target, approved: false };
            if followed == 1 { Some(outbox::enqueue(&mut tx, event).await?) } else { None }
        };
        tx.commit().await?;
        Ok(entry)
    }

    /// Ends the follow, if there was one, or withdraws the pending follow request. Returns the
    /// `FollowRemoved` event when a follow was removed.
    #[tracing::instrument(name = "pg unfollow", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn unfollow(&self, account_id: Id, target: Id) -> Result<Option<OutboxEntry>> {
        let mut tx = self.pool.begin().await?;
        ensure_account(&mut tx, target).await?;
        let removed = sqlx::query("DELETE FROM follows WHERE account_id = $1 AND target_account_id = $2")
            .bind(account_id)
            .bind(target)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let entry = if removed == 1 {
            let event = Event::FollowRemoved { account_id, target_account_id: target };
            Some(outbox::enqueue(&mut tx, event).await?)
        } else {
            delete_request(&mut tx, account_id, target).await?;
            None
        };
        tx.commit().await?;
        Ok(entry)
    }

    /// Mutes `target`: returns the `AccountMuted` event when the mute is new.
    #[tracing::instrument(name = "pg mute", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn mute(&self, account_id: Id, target: Id) -> Result<Option<OutboxEntry>> {
        let insert =
            "INSERT INTO mutes (account_id, target_account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        let event = Event::AccountMuted { account_id, target_account_id: target };
        self.change_relation(insert, account_id, target, Some(event)).await
    }

    #[tracing::instrument(name = "pg unmute", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn unmute(&self, account_id: Id, target: Id) -> Result<()> {
        let delete = "DELETE FROM mutes WHERE account_id = $1 AND target_account_id = $2";
        self.change_relation(delete, account_id, target, None).await.map(|_| ())
    }

    #[tracing::instrument(name = "pg unblock", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn unblock(&self, account_id: Id, target: Id) -> Result<()> {
        let delete = "DELETE FROM blocks WHERE account_id = $1 AND target_account_id = $2";
        self.change_relation(delete, account_id, target, None).await.map(|_| ())
    }

    /// Blocks `target`: ends the follows both ways, in the same transaction as the block, and
    /// returns their `FollowRemoved` events (the workers clean both home feeds).
    #[tracing::instrument(name = "pg block", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn block(&self, account_id: Id, target: Id) -> Result<Vec<OutboxEntry>> {
        let mut tx = self.pool.begin().await?;
        ensure_account(&mut tx, target).await?;
        sqlx::query(
            "INSERT INTO blocks (account_id, target_account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(account_id)
        .bind(target)
        .execute(&mut *tx)
        .await?;
        let ended: Vec<(Id, Id)> = sqlx::query_as(
            "DELETE FROM follows WHERE (account_id = $1 AND target_account_id = $2) \
                                    OR (account_id = $2 AND target_account_id = $1) \
             RETURNING account_id, target_account_id",
        )
        .bind(account_id)
        .bind(target)
        .fetch_all(&mut *tx)
        .await?;
        // pending requests end too: the blocked account can no longer be authorized
        sqlx::query(
            "DELETE FROM follow_requests WHERE (account_id = $1 AND target_account_id = $2) \
                                            OR (account_id = $2 AND target_account_id = $1)",
        )
        .bind(account_id)
        .bind(target)
        .execute(&mut *tx)
        .await?;
        let mut entries = Vec::with_capacity(ended.len());
        for (follower, followed) in ended {
            let event = Event::FollowRemoved { account_id: follower, target_account_id: followed };
            entries.push(outbox::enqueue(&mut tx, event).await?);
        }
        tx.commit().await?;
        Ok(entries)
    }

    /// Runs `statement` on the pair, and writes `event` in the same transaction if it changed a row.
    async fn change_relation(
        &self,
        statement: &'static str,
        account_id: Id,
        target: Id,
        event: Option<Event>,
    ) -> Result<Option<OutboxEntry>> {
        let mut tx = self.pool.begin().await?;
        ensure_account(&mut tx, target).await?;
        let changed =
            sqlx::query(statement).bind(account_id).bind(target).execute(&mut *tx).await?.rows_affected();
        let entry = match event {
            Some(event) if changed == 1 => Some(outbox::enqueue(&mut tx, event).await?),
            _ => None,
        };
        tx.commit().await?;
        Ok(entry)
    }

    #[tracing::instrument(name = "pg relationship", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn relationship(&self, account_id: Id, target: Id) -> Result<Relationship> {
        let row: RelationshipRow = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM follows WHERE account_id = $1 AND target_account_id = $2), \
                    EXISTS (SELECT 1 FROM follows WHERE account_id = $2 AND target_account_id = $1), \
                    EXISTS (SELECT 1 FROM blocks WHERE account_id = $1 AND target_account_id = $2), \
                    EXISTS (SELECT 1 FROM blocks WHERE account_id = $2 AND target_account_id = $1), \
                    EXISTS (SELECT 1 FROM mutes WHERE account_id = $1 AND target_account_id = $2), \
                    EXISTS (SELECT 1 FROM follow_requests WHERE account_id = $1 AND target_account_id = $2), \
                    EXISTS (SELECT 1 FROM follow_requests WHERE account_id = $2 AND target_account_id = $1)",
        )
        .bind(account_id)
        .bind(target)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.into())
    }

    /// One page of `author`'s followers, in id order after `after` (keyset paging: each page
    /// costs the same however deep it is). With `active_since`, only users active since then:
    /// feeds of users who stopped coming are not kept warm, and are rebuilt when they return.
    /// Followers who mute the author are left out.
    /// (The bound on `u.account_id` is implied by the join, but without it the planner merges
    /// against every user from the first one, and each page costs more than the one before.)
    #[tracing::instrument(name = "pg follower_page", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn follower_page(
        &self,
        author: Id,
        after: Option<Id>,
        active_since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<Id>> {
        Ok(sqlx::query_scalar(
            "SELECT f.account_id FROM follows f JOIN users u ON u.account_id = f.account_id \
             WHERE f.target_account_id = $1 AND f.account_id > $2 \
               AND u.account_id > $2 \
               AND ($3::timestamptz IS NULL OR u.last_active_at >= $3) \
               AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.account_id = f.account_id AND m.target_account_id = $1) \
             ORDER BY f.account_id LIMIT $4",
        )
        .bind(author)
        .bind(after.unwrap_or(Id(0)))
        .bind(active_since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many followers `account_id` has.
    #[tracing::instrument(name = "pg follower_count", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn follower_count(&self, account_id: Id) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM follows WHERE target_account_id = $1")
            .bind(account_id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Records whether `account_id` is served by pull (hybrid) instead of push.
    #[tracing::instrument(name = "pg set_hybrid", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn set_hybrid(&self, account_id: Id, hybrid: bool) -> Result<()> {
        sqlx::query("UPDATE accounts SET hybrid = $2 WHERE id = $1 AND hybrid <> $2")
            .bind(account_id)
            .bind(hybrid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The hybrid accounts `account_id` follows: their statuses are merged into its home at
    /// read time. Hybrid accounts are few, so this probes the follow index once per hybrid
    /// account rather than reading every follow (it runs on every home read).
    #[tracing::instrument(name = "pg hybrid_followees", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn hybrid_followees(&self, account_id: Id) -> Result<Vec<Id>> {
        Ok(sqlx::query_scalar(
            "SELECT a.id FROM accounts a WHERE a.hybrid AND EXISTS \
               (SELECT 1 FROM follows f WHERE f.account_id = $1 AND f.target_account_id = a.id) \
             AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.account_id = $1 AND m.target_account_id = a.id)",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }
    /// `account_id`'s relationships with each of `targets` that exists, in one query.
    #[tracing::instrument(name = "pg relationships", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn relationships(&self, account_id: Id, targets: &[Id]) -> Result<Vec<(Id, Relationship)>> {
        let rows: Vec<TargetRelationshipRow> = sqlx::query_as(
            "SELECT a.id, \
                    EXISTS (SELECT 1 FROM follows WHERE account_id = $1 AND target_account_id = a.id), \
                    EXISTS (SELECT 1 FROM follows WHERE account_id = a.id AND target_account_id = $1), \
                    EXISTS (SELECT 1 FROM blocks WHERE account_id = $1 AND target_account_id = a.id), \
                    EXISTS (SELECT 1 FROM blocks WHERE account_id = a.id AND target_account_id = $1), \
                    EXISTS (SELECT 1 FROM mutes WHERE account_id = $1 AND target_account_id = a.id), \
                    EXISTS (SELECT 1 FROM follow_requests WHERE account_id = $1 AND target_account_id = a.id), \
                    EXISTS (SELECT 1 FROM follow_requests WHERE account_id = a.id AND target_account_id = $1) \
             FROM accounts a WHERE a.id = ANY($2)",
        )
        .bind(account_id)
        .bind(targets)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, following, followed_by, blocking, blocked_by, muting, requested, requested_by)| {
                (id, (following, followed_by, blocking, blocked_by, muting, requested, requested_by).into())
            })
            .collect())
    }

    /// One page of `account_id`'s `list`, newest first, as `(row id, account id)`: pages are
    /// cut by the id of the follow, block or mute, as Mastodon cuts them. `NotFound` unless the
    /// account exists.
    #[tracing::instrument(name = "pg account_list_page", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn account_list_page(
        &self,
        account_id: Id,
        list: AccountList,
        max_id: Option<Id>,
        since_id: Option<Id>,
        limit: i64,
    ) -> Result<Vec<(Id, Id)>> {
        // only the constant names of `columns` are formatted in
        let (table, owner, listed) = list.columns();
        let query = format!(
            "SELECT id, {listed} FROM {table} WHERE {owner} = $1 \
               AND id < coalesce($2::bigint, 9223372036854775807) AND id > coalesce($3::bigint, 0) \
             ORDER BY id DESC LIMIT $4"
        );
        let mut tx = self.pool.begin().await?;
        ensure_account(&mut tx, account_id).await?;
        let page = sqlx::query_as(sqlx::AssertSqlSafe(query))
            .bind(account_id)
            .bind(max_id)
            .bind(since_id)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(page)
    }
    /// Every account whose statuses stay out of `account_id`'s home: muted or blocked by it, or
    /// blocking it (three index range scans). The service caches the set per viewer, so that a
    /// home page is filtered without a query.
    #[tracing::instrument(name = "pg hidden_accounts", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn hidden_accounts(&self, account_id: Id) -> Result<Vec<Id>> {
        Ok(sqlx::query_scalar(
            "SELECT target_account_id FROM mutes WHERE account_id = $1 \
             UNION SELECT target_account_id FROM blocks WHERE account_id = $1 \
             UNION SELECT account_id FROM blocks WHERE target_account_id = $1",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Those of `authors` whose statuses stay out of `account_id`'s home: muted or blocked by
    /// it, or blocking it. Home reads drop them (Mastodon filters at insert and on read, so a
    /// mute shows at once, before the workers have cleaned the feed).
    #[tracing::instrument(name = "pg hidden_authors", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn hidden_authors(&self, account_id: Id, authors: &[Id]) -> Result<Vec<Id>> {
        Ok(sqlx::query_scalar(
            "SELECT target_account_id FROM mutes WHERE account_id = $1 AND target_account_id = ANY($2) \
             UNION SELECT target_account_id FROM blocks WHERE account_id = $1 AND target_account_id = ANY($2) \
             UNION SELECT account_id FROM blocks WHERE target_account_id = $1 AND account_id = ANY($2)",
        )
        .bind(account_id)
        .bind(authors)
        .fetch_all(&self.pool)
        .await?)
    }
}

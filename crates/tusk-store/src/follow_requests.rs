//! Follow requests: a follow of a locked account waits until the account answers it, as in
//! Mastodon. Authorizing one is a follow like any other (same `FollowCreated` event, so the
//! workers merge the account's recent statuses into the follower's home and fan out the next
//! ones), written in the same transaction that removes the request.

use sqlx::{Postgres, Transaction};
use tusk_core::{Event, Id};

use crate::follows::delete_request;
use crate::outbox::{self, OutboxEntry};
use crate::{Result, Store, StoreError};

/// Turns the removed request `follower` → `target` into a follow, with its event when the
/// follow is new (it may already exist when a request and an unlock crossed).
async fn accept(tx: &mut Transaction<'_, Postgres>, follower: Id, target: Id) -> Result<Option<OutboxEntry>> {
    let followed = sqlx::query(
        "INSERT INTO follows (account_id, target_account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(follower)
    .bind(target)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if followed == 1 {
        let event = Event::FollowCreated { account_id: follower, target_account_id: target, approved: true };
        Ok(Some(outbox::enqueue(tx, event).await?))
    } else {
        Ok(None)
    }
}

impl Store {
    /// `target` accepts `follower`'s pending request: the request becomes a follow, in one
    /// transaction with its outbox event. `NotFound` when no such request waits.
    #[tracing::instrument(name = "pg authorize_follow_request", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn authorize_follow_request(&self, target: Id, follower: Id) -> Result<Option<OutboxEntry>> {
        let mut tx = self.pool.begin().await?;
        if !delete_request(&mut tx, follower, target).await? {
            return Err(StoreError::NotFound);
        }
        let entry = accept(&mut tx, follower, target).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// `target` turns `follower`'s pending request down. `NotFound` when no such request waits.
    #[tracing::instrument(name = "pg reject_follow_request", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn reject_follow_request(&self, target: Id, follower: Id) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if !delete_request(&mut tx, follower, target).await? {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Accepts every request waiting for `target` (it was unlocked, and Mastodon then lets
    /// everyone who asked in), in one transaction; returns the new follows' events.
    #[tracing::instrument(name = "pg authorize_all_follow_requests", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn authorize_all_follow_requests(&self, target: Id) -> Result<Vec<OutboxEntry>> {
        let mut tx = self.pool.begin().await?;
        let followers: Vec<Id> = sqlx::query_scalar(
            "DELETE FROM follow_requests WHERE target_account_id = $1 RETURNING account_id",
        )
        .bind(target)
        .fetch_all(&mut *tx)
        .await?;
        let mut entries = Vec::with_capacity(followers.len());
        for follower in followers {
            entries.extend(accept(&mut tx, follower, target).await?);
        }
        tx.commit().await?;
        Ok(entries)
    }

    /// One page of the requests waiting for `target`, newest first, as `(request id, account id)`,
    /// cut by the request's id as the followers pages are.
    #[tracing::instrument(name = "pg follow_request_page", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn follow_request_page(
        &self,
        target: Id,
        max_id: Option<Id>,
        since_id: Option<Id>,
        limit: i64,
    ) -> Result<Vec<(Id, Id)>> {
        Ok(sqlx::query_as(
            "SELECT id, account_id FROM follow_requests WHERE target_account_id = $1 \
               AND id < coalesce($2::bigint, 9223372036854775807) AND id > coalesce($3::bigint, 0) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(target)
        .bind(max_id)
        .bind(since_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many requests wait for `target` (`source.follow_requests_count`).
    #[tracing::instrument(name = "pg follow_requests_count", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn follow_requests_count(&self, target: Id) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM follow_requests WHERE target_account_id = $1")
            .bind(target)
            .fetch_one(&self.pool)
            .await?)
    }
}

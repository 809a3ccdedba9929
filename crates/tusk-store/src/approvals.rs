//! Accounts waiting for a moderator (`TUSK_REGISTRATIONS=approved`): their tokens are refused
//! until approved. `tusk accounts approve` (Mastodon's `tootctl accounts approve`) uses these.

use chrono::{DateTime, Utc};
use tusk_core::Id;

use crate::{Result, Store, StoreError};

/// A user signed up while approval was required, not approved yet.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PendingUser {
    pub account_id: Id,
    pub username: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Every user waiting for approval, oldest sign-up first.
    #[tracing::instrument(name = "pg pending_users", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn pending_users(&self) -> Result<Vec<PendingUser>> {
        Ok(sqlx::query_as(
            "SELECT u.account_id, a.username, u.email, u.created_at \
             FROM users u JOIN accounts a ON a.id = u.account_id \
             WHERE NOT u.approved ORDER BY u.created_at, u.account_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Approves the local user named `username` (case-insensitively): its tokens work from the
    /// next request on. Returns false when it was approved already; `NotFound` when no such user.
    #[tracing::instrument(name = "pg approve_user", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn approve_user(&self, username: &str) -> Result<bool> {
        let was_pending: Option<bool> = sqlx::query_scalar(
            "WITH target AS (SELECT u.id, NOT u.approved AS pending FROM users u \
                             JOIN accounts a ON a.id = u.account_id WHERE lower(a.username) = lower($1)), \
                  approved AS (UPDATE users SET approved = true \
                               WHERE id IN (SELECT id FROM target WHERE pending)) \
             SELECT pending FROM target",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        was_pending.ok_or(StoreError::NotFound)
    }
}

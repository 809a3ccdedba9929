//! What an account keeps of statuses: its bookmarks and pins, and the pages of its favourites
//! and bookmarks (Mastodon's `/api/v1/favourites` and `/api/v1/bookmarks`, paged by the
//! favourite's or bookmark's id, not the status's).

use tusk_core::{Id, PageRange};

use crate::paging::{keyset, newest_first};
use crate::{Result, Store};

/// Mastodon's `StatusPinValidator::PIN_LIMIT`: pins per account.
pub const PIN_LIMIT: i64 = 5;

/// A list of statuses an account keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusList {
    Favourites,
    Bookmarks,
}

impl StatusList {
    fn table(self) -> &'static str {
        match self {
            Self::Favourites => "favourites",
            Self::Bookmarks => "bookmarks",
        }
    }
}

impl Store {
    /// Bookmarks `status_id` for `account_id`; twice changes nothing.
    #[tracing::instrument(name = "pg bookmark", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn bookmark(&self, account_id: Id, status_id: Id) -> Result<()> {
        sqlx::query("INSERT INTO bookmarks (account_id, status_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(account_id)
            .bind(status_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[tracing::instrument(name = "pg unbookmark", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn unbookmark(&self, account_id: Id, status_id: Id) -> Result<()> {
        sqlx::query("DELETE FROM bookmarks WHERE account_id = $1 AND status_id = $2")
            .bind(account_id)
            .bind(status_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Pins `status_id` (the caller checked it is `account_id`'s own and pinnable), unless the
    /// account has [`PIN_LIMIT`] pins already: `false` then. Pinning twice changes nothing. The
    /// account's row is locked while counting, so two pins at once cannot pass the limit.
    #[tracing::instrument(name = "pg pin", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn pin(&self, account_id: Id, status_id: Id) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        let (pins, pinned): (i64, bool) = sqlx::query_as(
            "SELECT count(*), coalesce(bool_or(status_id = $2), false) FROM status_pins WHERE account_id = $1",
        )
        .bind(account_id)
        .bind(status_id)
        .fetch_one(&mut *tx)
        .await?;
        if pinned {
            return Ok(true);
        }
        if pins >= PIN_LIMIT {
            return Ok(false);
        }
        sqlx::query("INSERT INTO status_pins (account_id, status_id) VALUES ($1, $2)")
            .bind(account_id)
            .bind(status_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(name = "pg unpin", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn unpin(&self, account_id: Id, status_id: Id) -> Result<()> {
        sqlx::query("DELETE FROM status_pins WHERE account_id = $1 AND status_id = $2")
            .bind(account_id)
            .bind(status_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One page of `account_id`'s `list`, newest first, as `(row id, status id)`.
    #[tracing::instrument(name = "pg status_list_page", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn status_list_page(
        &self,
        account_id: Id,
        list: StatusList,
        range: &PageRange,
    ) -> Result<Vec<(Id, Id)>> {
        // only the table's constant name, the order direction and the numeric limit are
        // formatted in
        let query = format!(
            "SELECT id, status_id FROM {} WHERE account_id = $3 {}",
            list.table(),
            keyset("id", 1, range)
        );
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(query))
            .bind(range.max_id)
            .bind(range.lower())
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(newest_first(rows, range))
    }
}

//! Reading timelines: ids from Redis feeds (rebuilt from PostgreSQL when missing), then statuses
//! and accounts from the Redis entity cache with PostgreSQL behind it.

use std::collections::HashMap;

use tusk_cache::EntityKind;
use tusk_core::{HOME_FEED_MAX_ITEMS, Id, PageRange};
use tusk_store::{AccountRow, StatusRow};

use crate::entities::Status;
use crate::{ApiError, AppState};

impl AppState {
    /// One page of `account`'s home timeline, newest first. A feed missing from Redis (evicted,
    /// flushed, never built) is rebuilt from PostgreSQL, and the page is served from what was
    /// rebuilt; with Redis down, the page comes from PostgreSQL alone.
    pub(crate) async fn home_timeline(
        &self,
        account: Id,
        range: &PageRange,
    ) -> Result<Vec<Status>, ApiError> {
        let ids = match self.cache.home_feed_page(account, range).await {
            Ok(Some(ids)) => ids,
            Ok(None) => {
                let ids = self
                    .store
                    .home_timeline_ids(account, HOME_FEED_MAX_ITEMS as i64)
                    .await?;
                self.metrics.feed_regenerations_total.inc();
                if let Err(error) = self.cache.store_rebuilt_feed(account, &ids).await {
                    tracing::warn!(%error, "rebuilt home feed not stored");
                }
                range.select(ids)
            }
            Err(error) => {
                tracing::warn!(%error, "home feed unreadable, serving from PostgreSQL");
                range.select(
                    self.store
                        .home_timeline_ids(account, HOME_FEED_MAX_ITEMS as i64)
                        .await?,
                )
            }
        };
        self.render_statuses(&ids).await
    }

    /// Renders statuses in the order of `ids`, skipping any that no longer exist.
    pub(crate) async fn render_statuses(&self, ids: &[Id]) -> Result<Vec<Status>, ApiError> {
        let statuses = self.load_statuses(ids).await?;
        let mut author_ids: Vec<Id> = statuses.iter().map(|s| s.account_id).collect();
        author_ids.sort_unstable();
        author_ids.dedup();
        let authors: HashMap<Id, AccountRow> = self
            .load_accounts(&author_ids)
            .await?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();
        let by_id: HashMap<Id, StatusRow> = statuses.into_iter().map(|s| (s.id, s)).collect();
        Ok(ids
            .iter()
            .filter_map(|id| {
                let status = by_id.get(id)?;
                let author = authors.get(&status.account_id)?;
                Some(Status::new(&self.instance, status, author))
            })
            .collect())
    }

    pub(crate) async fn load_statuses(&self, ids: &[Id]) -> Result<Vec<StatusRow>, ApiError> {
        self.read_through(
            EntityKind::Status,
            ids,
            |missing| async move { self.store.statuses(&missing).await },
            |s| s.id,
        )
        .await
    }

    pub(crate) async fn load_accounts(&self, ids: &[Id]) -> Result<Vec<AccountRow>, ApiError> {
        self.read_through(
            EntityKind::Account,
            ids,
            |missing| async move { self.store.accounts(&missing).await },
            |a| a.id,
        )
        .await
    }

    pub(crate) async fn load_account(&self, id: Id) -> Result<AccountRow, ApiError> {
        self.load_accounts(&[id])
            .await?
            .pop()
            .ok_or(ApiError::NotFound)
    }

    /// Drops cached accounts whose counts just changed.
    pub(crate) async fn forget_accounts(&self, ids: &[Id]) {
        if let Err(error) = self
            .cache
            .invalidate_entities(EntityKind::Account, ids)
            .await
        {
            tracing::warn!(%error, "stale account left in cache until its TTL");
        }
    }

    /// Cache first; what is missing comes from PostgreSQL and is cached for the next reader.
    /// A Redis failure degrades to PostgreSQL instead of failing the read.
    async fn read_through<T, F, Fut>(
        &self,
        kind: EntityKind,
        ids: &[Id],
        fetch: F,
        id_of: fn(&T) -> Id,
    ) -> Result<Vec<T>, ApiError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce(Vec<Id>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, tusk_store::StoreError>>,
    {
        let cached = match self.cache.get_entities::<T>(kind, ids).await {
            Ok(cached) => cached,
            Err(error) => {
                tracing::warn!(%error, "entity cache unreadable, reading PostgreSQL");
                ids.iter().map(|_| None).collect()
            }
        };
        let missing: Vec<Id> = ids
            .iter()
            .zip(&cached)
            .filter(|(_, c)| c.is_none())
            .map(|(id, _)| *id)
            .collect();
        let mut found: Vec<T> = cached.into_iter().flatten().collect();
        if !missing.is_empty() {
            let fetched = fetch(missing).await?;
            let entries: Vec<(Id, &T)> = fetched.iter().map(|row| (id_of(row), row)).collect();
            if let Err(error) = self.cache.put_entities(kind, &entries).await {
                tracing::warn!(%error, "entities not cached");
            }
            found.extend(fetched);
        }
        Ok(found)
    }
}

//! Reading timelines: ids from Redis feeds (rebuilt from PostgreSQL when missing), then statuses
//! and accounts from the Redis entity cache with PostgreSQL behind it.

use std::collections::HashMap;

use tusk_cache::{EntityKind, Feed};
use tusk_core::{HOME_FEED_MAX_ITEMS, Id, PageRange};
use tusk_store::{AccountRow, StatusRow};

use crate::entities::Status;
use crate::{ApiError, AppState};

/// A feed rebuild reads at most this many statuses per followed account.
const REBUILD_PER_ACCOUNT: i64 = 40;

impl AppState {
    /// One page of `account`'s home timeline, newest first: its home feed, merged with the
    /// account feeds of the hybrid authors it follows (pulled at read time instead of pushed).
    /// A feed missing from Redis (evicted, flushed, expired) is rebuilt from PostgreSQL and the
    /// page is served from what was rebuilt; with Redis down, the page comes from PostgreSQL.
    pub(crate) async fn home_timeline(
        &self,
        account: Id,
        range: &PageRange,
    ) -> Result<Vec<Status>, ApiError> {
        let (touched, pulls) =
            tokio::join!(self.store.touch_active(account), self.store.hybrid_followees(account));
        if let Err(error) = touched {
            tracing::warn!(%error, "activity not recorded");
        }
        let mut feeds = vec![Feed::Home(account)];
        feeds.extend(pulls?.into_iter().map(Feed::Account));
        let pages = match self.cache.feed_pages(&feeds, range).await {
            Ok(pages) => pages,
            Err(error) => {
                tracing::warn!(%error, "home feed unreadable, serving from PostgreSQL");
                let ids = self
                    .store
                    .home_timeline_ids(account, REBUILD_PER_ACCOUNT, HOME_FEED_MAX_ITEMS as i64)
                    .await?;
                return self.render_statuses(&range.select(ids)).await;
            }
        };
        let mut ids = Vec::new();
        for (feed, page) in feeds.iter().zip(pages) {
            match page {
                Some(page) => ids.extend(page),
                None => ids.extend(self.rebuild_feed(*feed, range).await?),
            }
        }
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        self.render_statuses(&range.select(ids)).await
    }

    /// Rebuilds a feed from PostgreSQL with bounded work, stores it, and returns its page.
    async fn rebuild_feed(&self, feed: Feed, range: &PageRange) -> Result<Vec<Id>, ApiError> {
        let ids = match feed {
            Feed::Home(account) => {
                self.metrics.feed_regenerations_total.inc();
                self.store.home_timeline_ids(account, REBUILD_PER_ACCOUNT, HOME_FEED_MAX_ITEMS as i64).await?
            }
            Feed::Account(author) => {
                self.store.recent_status_ids_for_followers(author, HOME_FEED_MAX_ITEMS as i64).await?
            }
        };
        if let Err(error) = self.cache.store_rebuilt_feed(feed, &ids).await {
            tracing::warn!(%error, ?feed, "rebuilt feed not stored");
        }
        Ok(range.select(ids))
    }

    /// Renders statuses in the order of `ids`, skipping any that no longer exist.
    pub(crate) async fn render_statuses(&self, ids: &[Id]) -> Result<Vec<Status>, ApiError> {
        let statuses = self.load_statuses(ids).await?;
        let mut author_ids: Vec<Id> = statuses.iter().map(|s| s.account_id).collect();
        author_ids.sort_unstable();
        author_ids.dedup();
        let authors: HashMap<Id, AccountRow> =
            self.load_accounts(&author_ids).await?.into_iter().map(|a| (a.id, a)).collect();
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
        self.load_accounts(&[id]).await?.pop().ok_or(ApiError::NotFound)
    }

    /// Drops cached entries that a write just made stale; they expire anyway, so a Redis
    /// failure here costs staleness, not the request.
    pub(crate) async fn forget(&self, kind: EntityKind, ids: &[Id]) {
        if let Err(error) = self.cache.invalidate_entities(kind, ids).await {
            tracing::warn!(%error, ?kind, "stale entry left in cache until its TTL");
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
        let missing: Vec<Id> =
            ids.iter().zip(&cached).filter(|(_, c)| c.is_none()).map(|(id, _)| *id).collect();
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

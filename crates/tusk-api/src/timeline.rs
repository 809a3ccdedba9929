//! Reading timelines: ids from Redis feeds (rebuilt from PostgreSQL when missing), then statuses
//! and accounts from the Redis entity cache with PostgreSQL behind it.

use std::collections::HashMap;

use tusk_cache::{EntityKind, Feed};
use tusk_core::{HOME_FEED_MAX_ITEMS, Id, PageRange, Visibility};
use tusk_store::{AccountRow, AccountStatusesFilter, StatusRow, StatusStats};

use crate::entities::Status;
use crate::{ApiError, AppState};

/// The filters of `GET /api/v1/accounts/:id/statuses`.
pub(crate) struct AccountStatusesQuery {
    pub exclude_replies: bool,
    pub exclude_reblogs: bool,
    /// A filter nothing here can pass (pins, media, hashtags).
    pub nothing: bool,
}

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
                return self
                    .without_hidden_authors(
                        account,
                        self.render_statuses_for(Some(account), &range.select(ids)).await?,
                    )
                    .await;
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
        self.without_hidden_authors(
            account,
            self.render_statuses_for(Some(account), &range.select(ids)).await?,
        )
        .await
    }

    /// Drops the statuses of authors `account` mutes or blocks (or who block it) from a home
    /// page: the feed may still hold them until the workers have cleaned it.
    async fn without_hidden_authors(
        &self,
        account: Id,
        mut statuses: Vec<Status>,
    ) -> Result<Vec<Status>, ApiError> {
        let mut authors: Vec<Id> = statuses.iter().map(|s| s.account.id).filter(|a| *a != account).collect();
        authors.sort_unstable();
        authors.dedup();
        if authors.is_empty() {
            return Ok(statuses);
        }
        let hidden = self.store.hidden_authors(account, &authors).await?;
        statuses.retain(|s| !hidden.contains(&s.account.id));
        Ok(statuses)
    }

    /// Whether `viewer` may see `status`, as Mastodon's `StatusPolicy#show?`: the author always;
    /// nobody the author blocks; public and unlisted for anyone else, private for followers,
    /// direct for nobody else (mentions are not parsed yet).
    pub(crate) async fn visible_to(&self, viewer: Option<Id>, status: &StatusRow) -> Result<bool, ApiError> {
        let relationship = match viewer {
            Some(viewer) if viewer == status.account_id => return Ok(true),
            Some(viewer) => Some(self.store.relationship(viewer, status.account_id).await?),
            None => None,
        };
        if relationship.as_ref().is_some_and(|r| r.blocked_by) {
            return Ok(false);
        }
        Ok(match status.visibility() {
            Visibility::Public | Visibility::Unlisted => true,
            Visibility::Private => relationship.is_some_and(|r| r.following),
            Visibility::Direct => false,
        })
    }

    /// The status `id` if `viewer` may see it; `NotFound` otherwise, so that a hidden status
    /// cannot be told from a missing one.
    pub(crate) async fn visible_status(&self, viewer: Option<Id>, id: Id) -> Result<StatusRow, ApiError> {
        let status = self.load_statuses(&[id]).await?.pop().ok_or(ApiError::NotFound)?;
        if self.visible_to(viewer, &status).await? { Ok(status) } else { Err(ApiError::NotFound) }
    }

    /// The ids among `ids` that `viewer` may see, in their order.
    pub(crate) async fn visible_ids(&self, viewer: Option<Id>, ids: &[Id]) -> Result<Vec<Id>, ApiError> {
        let statuses: HashMap<Id, StatusRow> =
            self.load_statuses(ids).await?.into_iter().map(|s| (s.id, s)).collect();
        let mut visible = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(status) = statuses.get(id)
                && self.visible_to(viewer, status).await?
            {
                visible.push(*id);
            }
        }
        Ok(visible)
    }

    /// One page of the public timeline, from PostgreSQL (one indexed range scan).
    pub(crate) async fn public_timeline(
        &self,
        viewer: Option<Id>,
        range: &PageRange,
    ) -> Result<Vec<Status>, ApiError> {
        let ids = self.store.public_timeline_ids(range, viewer).await?;
        self.render_statuses_for(viewer, &ids).await
    }

    /// One page of `account`'s statuses as `viewer` may see them, following Mastodon's
    /// `AccountStatusesFilter`: public and unlisted for anyone, private for followers, direct
    /// for the author alone, nothing for an account the author blocks.
    pub(crate) async fn account_statuses(
        &self,
        viewer: Option<Id>,
        account: Id,
        query: &AccountStatusesQuery,
        range: &PageRange,
    ) -> Result<Vec<Status>, ApiError> {
        self.load_account(account).await?;
        if query.nothing {
            return Ok(Vec::new());
        }
        let own = viewer == Some(account);
        let followers_only = match viewer {
            Some(viewer) if !own => {
                let relationship = self.store.relationship(viewer, account).await?;
                if relationship.blocked_by {
                    return Ok(Vec::new());
                }
                relationship.following
            }
            _ => own,
        };
        let filter = AccountStatusesFilter {
            followers_only,
            own,
            exclude_replies: query.exclude_replies,
            exclude_reblogs: query.exclude_reblogs,
        };
        let ids = self.store.account_status_ids(account, filter, range).await?;
        self.render_statuses_for(viewer, &ids).await
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
        self.render_statuses_for(None, ids).await
    }

    /// Renders statuses for `viewer` (its `favourited` and `reblogged`), with their counts and,
    /// for reblogs, the original inside. Statuses (or originals) that no longer exist are skipped.
    pub(crate) async fn render_statuses_for(
        &self,
        viewer: Option<Id>,
        ids: &[Id],
    ) -> Result<Vec<Status>, ApiError> {
        let mut statuses = self.load_statuses(ids).await?;
        let mut originals: Vec<Id> = statuses.iter().filter_map(|s| s.reblog_of_id).collect();
        originals.sort_unstable();
        originals.dedup();
        if !originals.is_empty() {
            statuses.extend(self.load_statuses(&originals).await?);
        }
        let mut author_ids: Vec<Id> = statuses.iter().map(|s| s.account_id).collect();
        author_ids.sort_unstable();
        author_ids.dedup();
        let all_ids: Vec<Id> = statuses.iter().map(|s| s.id).collect();
        let (authors, stats) =
            tokio::join!(self.load_accounts(&author_ids), self.store.status_stats(&all_ids, viewer));
        let authors: HashMap<Id, AccountRow> = authors?.into_iter().map(|a| (a.id, a)).collect();
        let stats: HashMap<Id, StatusStats> = stats?.into_iter().map(|s| (s.id, s)).collect();
        let by_id: HashMap<Id, StatusRow> = statuses.into_iter().map(|s| (s.id, s)).collect();
        let render = |id: &Id| {
            let status = by_id.get(id)?;
            let author = authors.get(&status.account_id)?;
            let mut rendered = Status::new(&self.instance, status, author);
            if let Some(stats) = stats.get(id) {
                rendered.with_stats(stats);
            }
            Some(rendered)
        };
        Ok(ids
            .iter()
            .filter_map(|id| {
                let mut rendered = render(id)?;
                if let Some(original) = by_id.get(id)?.reblog_of_id {
                    rendered.reblog = Some(serde_json::to_value(render(&original)?).ok()?);
                }
                Some(rendered)
            })
            .collect())
    }

    /// One status as `viewer` sees it.
    pub(crate) async fn render_status(&self, viewer: Option<Id>, id: Id) -> Result<Status, ApiError> {
        self.render_statuses_for(viewer, &[id]).await?.pop().ok_or(ApiError::NotFound)
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

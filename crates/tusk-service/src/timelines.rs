//! Reading timelines: ids from Redis feeds (rebuilt from PostgreSQL when missing), then statuses,
//! accounts and counts from the Redis entity cache with PostgreSQL behind it. A warm home page
//! asks PostgreSQL one thing: what the reader did with the statuses on it.

use std::collections::HashMap;

use tusk_cache::{EntityKind, Feed};
use tusk_core::{HOME_FEED_MAX_ITEMS, Id, PageRange};
use tusk_store::{AccountRow, AccountStatusesFilter, StatusCounts, StatusRow, StatusStats};

use crate::{Result, Service};

/// A status with what an edge needs to show it: its author, its counts and what the viewer did
/// with it, and for a reblog, the original.
#[derive(Clone, Debug)]
pub struct StatusView {
    pub status: StatusRow,
    pub author: AccountRow,
    pub stats: StatusStats,
    pub reblog: Option<Box<StatusView>>,
}

/// The filters of an account's statuses page (Mastodon's `AccountStatusesFilter` params).
#[derive(Clone, Copy, Debug, Default)]
pub struct AccountStatusesQuery {
    pub exclude_replies: bool,
    pub exclude_reblogs: bool,
    /// A filter nothing here can pass (pins, media, hashtags).
    pub nothing: bool,
}

/// A feed rebuild reads at most this many statuses per followed account.
const REBUILD_PER_ACCOUNT: i64 = 40;

/// Where a home read takes its ids from.
enum HomeSource {
    /// The Redis feeds: the reader's home and the account feeds of the hybrid authors it follows.
    Feeds(Vec<Feed>),
    /// Redis failed: the home computed from PostgreSQL, newest first.
    Computed(Vec<Id>),
}

/// The ids of the next page after `ids` (newest first, a full page of `range`), in the same
/// direction.
fn next_range(range: PageRange, ids: &[Id]) -> PageRange {
    if range.from_bottom() {
        PageRange { min_id: ids.first().copied(), ..range }
    } else {
        PageRange { max_id: ids.last().copied(), ..range }
    }
}

impl Service {
    /// One page of `account`'s home timeline, newest first: its home feed, merged with the
    /// account feeds of the hybrid authors it follows (pulled at read time instead of pushed),
    /// without the authors it hides (muted, blocked, blocking it), filled up to the limit by
    /// reading further when some entries are hidden. A feed missing from Redis (evicted, flushed,
    /// expired) is rebuilt from PostgreSQL; with Redis down, the page comes from PostgreSQL.
    pub async fn home_timeline(&self, account: Id, range: &PageRange) -> Result<Vec<StatusView>> {
        let reader = self.home_reader(account).await?;
        let mut feeds = vec![Feed::Home(account)];
        feeds.extend(reader.hybrid_followees.iter().map(|author| Feed::Account(*author)));
        let mut source = HomeSource::Feeds(feeds);
        let mut rows: HashMap<Id, StatusRow> = HashMap::new();
        let mut kept: Vec<Id> = Vec::new();
        let mut cursor = *range;
        let mut scanned = 0;
        loop {
            let ids = self.home_ids(account, &mut source, &cursor).await?;
            scanned += ids.len();
            let page = self.load_with_originals(&ids).await?;
            let hidden = |id: &Id| reader.hidden.contains(id);
            kept.extend(ids.iter().filter(|id| {
                page.get(id).is_some_and(|status| {
                    let original = status.reblog_of_id.map(|original| page.get(&original));
                    !hidden(&status.account_id)
                        && original.is_none_or(|o| o.is_some_and(|o| !hidden(&o.account_id)))
                })
            }));
            rows.extend(page);
            // a short read means the feed has no more; the scan is bounded as the feed is
            if ids.len() < cursor.limit || kept.len() >= range.limit || scanned >= HOME_FEED_MAX_ITEMS {
                break;
            }
            cursor = next_range(cursor, &ids);
        }
        kept.sort_unstable_by(|a, b| b.cmp(a));
        kept.dedup();
        if range.from_bottom() {
            kept.drain(..kept.len().saturating_sub(range.limit));
        } else {
            kept.truncate(range.limit);
        }
        self.assemble(Some(account), &kept, &rows).await
    }

    /// One page of home ids, newest first, from `source`; switches to PostgreSQL if Redis fails.
    async fn home_ids(&self, account: Id, source: &mut HomeSource, range: &PageRange) -> Result<Vec<Id>> {
        if let HomeSource::Feeds(feeds) = source {
            match self.cache().feed_pages(feeds, range).await {
                Ok(pages) => {
                    let mut ids = Vec::new();
                    for (feed, page) in feeds.iter().zip(pages) {
                        match page {
                            Some(page) => ids.extend(page),
                            None => ids.extend(self.rebuild_feed(*feed, range).await?),
                        }
                    }
                    ids.sort_unstable_by(|a, b| b.cmp(a));
                    ids.dedup();
                    return Ok(range.select(ids));
                }
                Err(error) => {
                    tracing::warn!(%error, "home feed unreadable, serving from PostgreSQL");
                    let ids = self
                        .store()
                        .home_timeline_ids(account, REBUILD_PER_ACCOUNT, HOME_FEED_MAX_ITEMS as i64)
                        .await?;
                    *source = HomeSource::Computed(ids);
                }
            }
        }
        match source {
            HomeSource::Computed(ids) => Ok(range.select(ids.iter().copied())),
            HomeSource::Feeds(_) => Ok(Vec::new()),
        }
    }

    /// Rebuilds a feed from PostgreSQL with bounded work, stores it, and returns its page.
    async fn rebuild_feed(&self, feed: Feed, range: &PageRange) -> Result<Vec<Id>> {
        let ids = match feed {
            Feed::Home(account) => {
                self.0.metrics.feed_regenerations_total.inc();
                self.store()
                    .home_timeline_ids(account, REBUILD_PER_ACCOUNT, HOME_FEED_MAX_ITEMS as i64)
                    .await?
            }
            Feed::Account(author) => {
                self.store().recent_status_ids_for_followers(author, HOME_FEED_MAX_ITEMS as i64).await?
            }
        };
        if let Err(error) = self.cache().store_rebuilt_feed(feed, &ids).await {
            tracing::warn!(%error, ?feed, "rebuilt feed not stored");
        }
        Ok(range.select(ids))
    }

    /// One page of the public timeline, from PostgreSQL (one indexed range scan).
    pub async fn public_timeline(&self, viewer: Option<Id>, range: &PageRange) -> Result<Vec<StatusView>> {
        let ids = self.store().public_timeline_ids(range, viewer).await?;
        self.status_views(viewer, &ids).await
    }

    /// One page of `account`'s statuses as `viewer` may see them, following Mastodon's
    /// `AccountStatusesFilter`: public and unlisted for anyone, private for followers, direct
    /// for the author alone, nothing for an account the author blocks.
    pub async fn account_statuses(
        &self,
        viewer: Option<Id>,
        account: Id,
        query: &AccountStatusesQuery,
        range: &PageRange,
    ) -> Result<Vec<StatusView>> {
        self.load_account(account).await?;
        if query.nothing {
            return Ok(Vec::new());
        }
        let own = viewer == Some(account);
        let followers_only = match viewer {
            Some(viewer) if !own => {
                let relationship = self.store().relationship(viewer, account).await?;
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
        let ids = self.store().account_status_ids(account, filter, range).await?;
        self.status_views(viewer, &ids).await
    }

    /// The statuses `ids` as `viewer` sees them, in their order; those that (or whose original)
    /// no longer exist are skipped.
    pub async fn status_views(&self, viewer: Option<Id>, ids: &[Id]) -> Result<Vec<StatusView>> {
        let rows = self.load_with_originals(ids).await?;
        self.assemble(viewer, ids, &rows).await
    }

    /// The statuses `ids` and the originals of the reblogs among them, by id.
    async fn load_with_originals(&self, ids: &[Id]) -> Result<HashMap<Id, StatusRow>> {
        let mut statuses = self.load_statuses(ids).await?;
        let mut originals: Vec<Id> = statuses.iter().filter_map(|s| s.reblog_of_id).collect();
        originals.sort_unstable();
        originals.dedup();
        if !originals.is_empty() {
            statuses.extend(self.load_statuses(&originals).await?);
        }
        Ok(statuses.into_iter().map(|s| (s.id, s)).collect())
    }

    /// Views of `ids` from their rows (originals included): authors from the cache, counts and
    /// the viewer's interactions from [`Service::stats`].
    async fn assemble(
        &self,
        viewer: Option<Id>,
        ids: &[Id],
        rows: &HashMap<Id, StatusRow>,
    ) -> Result<Vec<StatusView>> {
        let mut author_ids: Vec<Id> = rows.values().map(|s| s.account_id).collect();
        author_ids.sort_unstable();
        author_ids.dedup();
        let mut all_ids: Vec<Id> = rows.keys().copied().collect();
        all_ids.sort_unstable();
        let (authors, stats) = tokio::join!(self.load_accounts(&author_ids), self.stats(viewer, &all_ids));
        let authors: HashMap<Id, AccountRow> = authors?.into_iter().map(|a| (a.id, a)).collect();
        let stats = stats?;
        let view = |id: &Id| {
            let status = rows.get(id)?;
            Some(StatusView {
                status: status.clone(),
                author: authors.get(&status.account_id)?.clone(),
                stats: stats.get(id)?.clone(),
                reblog: None,
            })
        };
        Ok(ids
            .iter()
            .filter_map(|id| {
                let mut shown = view(id)?;
                if let Some(original) = shown.status.reblog_of_id {
                    shown.reblog = Some(Box::new(view(&original)?));
                }
                Some(shown)
            })
            .collect())
    }

    /// The counts of `ids` (from Redis, the missing ones from PostgreSQL's counters) and what
    /// `viewer` did with each, in at most one query: none when signed out and every count is
    /// cached.
    async fn stats(&self, viewer: Option<Id>, ids: &[Id]) -> Result<HashMap<Id, StatusStats>> {
        let cached: Vec<Option<StatusCounts>> = self.cached_slots(EntityKind::StatusCounts, ids).await;
        let mut counts: HashMap<Id, StatusCounts> =
            ids.iter().zip(&cached).filter_map(|(id, c)| Some((*id, (*c)?))).collect();
        let missing: Vec<Id> = ids.iter().filter(|id| !counts.contains_key(id)).copied().collect();
        let mut done: HashMap<Id, (bool, bool)> = HashMap::new();
        if viewer.is_some() || !missing.is_empty() {
            let asked = if viewer.is_some() { ids } else { &missing };
            let found = self.store().page_stats(asked, &missing, viewer).await?;
            let fresh: Vec<(Id, StatusCounts)> =
                found.iter().filter_map(|row| Some((row.id, row.counts?))).collect();
            let entries: Vec<(Id, &StatusCounts)> = fresh.iter().map(|(id, c)| (*id, c)).collect();
            self.cache_rows(EntityKind::StatusCounts, &entries).await;
            counts.extend(fresh);
            done.extend(found.iter().map(|row| (row.id, (row.favourited, row.reblogged))));
        }
        Ok(ids
            .iter()
            .map(|id| {
                let c = counts.get(id).copied().unwrap_or_default();
                let (favourited, reblogged) = done.get(id).copied().unwrap_or_default();
                let stats = StatusStats {
                    id: *id,
                    replies_count: c.replies_count,
                    reblogs_count: c.reblogs_count,
                    favourites_count: c.favourites_count,
                    favourited,
                    reblogged,
                };
                (*id, stats)
            })
            .collect())
    }
}

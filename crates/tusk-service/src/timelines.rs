//! Reading timelines: ids from Redis feeds (rebuilt from PostgreSQL when missing), then statuses,
//! accounts and counts from the Redis entity cache with PostgreSQL behind it. A warm home page
//! asks PostgreSQL one thing: what the reader did with the statuses on it.

use std::collections::HashMap;
use std::sync::Arc;

use tusk_cache::{EntityKind, Feed, Interactions, decode_entities};
use tusk_core::{HOME_FEED_MAX_ITEMS, Id, Interacted, PageRange};
use tusk_store::{AccountRow, AccountStatusesFilter, StatusCounts, StatusRow, StatusStats};

use crate::{Result, Service};

/// A status with what an edge needs to show it: its author, its counts and what the viewer did
/// with it, and for a reblog, the original.
#[derive(Clone, Debug)]
pub struct StatusView {
    /// Shared with the other views of the page that show it (a reblogged original).
    pub status: Arc<StatusRow>,
    /// Shared by the views of the page by the same author.
    pub author: Arc<AccountRow>,
    pub stats: StatusStats,
    pub reblog: Option<Box<StatusView>>,
}

/// Statuses read for a page, with what their views need.
#[derive(Default)]
struct Loaded {
    rows: HashMap<Id, Arc<StatusRow>>,
    authors: HashMap<Id, Arc<AccountRow>>,
    stats: HashMap<Id, StatusStats>,
}

impl Loaded {
    fn extend(&mut self, other: Self) {
        self.rows.extend(other.rows);
        self.authors.extend(other.authors);
        self.stats.extend(other.stats);
    }

    /// The distinct `ids` that `seen` says are not loaded yet, sorted.
    fn unseen(&self, ids: impl Iterator<Item = Id>, seen: impl Fn(&Self, &Id) -> bool) -> Vec<Id> {
        let mut ids: Vec<Id> = ids.filter(|id| !seen(self, id)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The views of `ids`, in their order; those (or whose original) not loaded are skipped.
    fn views(&self, ids: &[Id]) -> Vec<StatusView> {
        let view = |id: &Id| {
            let status = self.rows.get(id)?;
            Some(StatusView {
                status: Arc::clone(status),
                author: Arc::clone(self.authors.get(&status.account_id)?),
                stats: self.stats.get(id)?.clone(),
                reblog: None,
            })
        };
        ids.iter()
            .filter_map(|id| {
                let mut shown = view(id)?;
                if let Some(original) = shown.status.reblog_of_id {
                    shown.reblog = Some(Box::new(view(&original)?));
                }
                Some(shown)
            })
            .collect()
    }
}

/// The filters of an account's statuses page (Mastodon's `AccountStatusesFilter` params).
#[derive(Clone, Copy, Debug, Default)]
pub struct AccountStatusesQuery {
    pub exclude_replies: bool,
    pub exclude_reblogs: bool,
    /// Only its pinned statuses.
    pub pinned: bool,
    /// Only statuses with attachments.
    pub only_media: bool,
    /// A filter nothing here can pass (hashtags).
    pub nothing: bool,
}

/// How many of a reader's latest favourites (and reblogs) are cached for its reads.
const RECENT_INTERACTIONS: i64 = 1000;

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
        // the reader's context and its home feed's first page, in one round trip
        let mut reader = self.home_reader(account, range).await?;
        let mut prefetched = reader.feed_pages.take();
        let mut feeds = vec![Feed::Home(account)];
        feeds.extend(reader.hybrid_followees.iter().map(|author| Feed::Account(*author)));
        let mut source = HomeSource::Feeds(feeds);
        let mut loaded = Loaded::default();
        let mut kept: Vec<Id> = Vec::new();
        let mut cursor = *range;
        let mut scanned = 0;
        loop {
            let ids = self.home_ids(account, &mut source, &cursor, prefetched.take()).await?;
            scanned += ids.len();
            let page = self.load_page(Some(account), &ids).await?;
            let hidden = |id: &Id| reader.hidden.contains(id);
            kept.extend(ids.iter().filter(|id| {
                page.rows.get(id).is_some_and(|status| {
                    let original = status.reblog_of_id.map(|original| page.rows.get(&original));
                    !hidden(&status.account_id)
                        && original.is_none_or(|o| o.is_some_and(|o| !hidden(&o.account_id)))
                })
            }));
            loaded.extend(page);
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
        Ok(loaded.views(&kept))
    }

    /// One page of home ids, newest first, from `source`; switches to PostgreSQL if Redis fails.
    /// `prefetched` is the home feed's page when the caller read it already (the first page).
    async fn home_ids(
        &self,
        account: Id,
        source: &mut HomeSource,
        range: &PageRange,
        prefetched: Option<Vec<Option<Vec<Id>>>>,
    ) -> Result<Vec<Id>> {
        if let HomeSource::Feeds(feeds) = source {
            let pages = match prefetched {
                Some(mut pages) if pages.len() < feeds.len() => {
                    self.cache().feed_pages(&feeds[pages.len()..], range).await.map(|rest| {
                        pages.extend(rest);
                        pages
                    })
                }
                Some(pages) => Ok(pages),
                None => self.cache().feed_pages(feeds, range).await,
            };
            match pages {
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
    pub async fn public_timeline(
        &self,
        viewer: Option<Id>,
        range: &PageRange,
        only_media: bool,
    ) -> Result<Vec<StatusView>> {
        let ids = self.store().public_timeline_ids(range, viewer, only_media).await?;
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
            pinned: query.pinned,
            only_media: query.only_media,
        };
        let ids = self.store().account_status_ids(account, filter, range).await?;
        self.status_views(viewer, &ids).await
    }

    /// The statuses `ids` as `viewer` sees them, in their order; those that (or whose original)
    /// no longer exist are skipped.
    pub async fn status_views(&self, viewer: Option<Id>, ids: &[Id]) -> Result<Vec<StatusView>> {
        Ok(self.load_page(viewer, ids).await?.views(ids))
    }

    /// The statuses `ids`, the originals of the reblogs among them, their authors, counts and
    /// what `viewer` did with them: two round trips to Redis when everything is cached (the
    /// statuses with their counts and the viewer's interactions, then the originals with the
    /// authors), a third only for the authors of originals not met on the page.
    async fn load_page(&self, viewer: Option<Id>, ids: &[Id]) -> Result<Loaded> {
        let mut loaded = Loaded::default();
        let mut first = self
            .lookup(&[(EntityKind::Status, ids), (EntityKind::StatusCounts, ids)], reading(viewer, ids))
            .await;
        let [statuses, counts] = two(&mut first.entities);
        let (statuses, stats) = tokio::join!(
            self.fill_shared_statuses(ids, self.0.decoded_statuses.decode(ids, statuses)),
            self.stats_from(viewer, ids, decode_entities(counts), first.interactions)
        );
        loaded.stats = stats?;
        loaded.rows.extend(statuses?.into_iter().map(|s| (s.id, s)));

        let originals = loaded
            .unseen(loaded.rows.values().filter_map(|s| s.reblog_of_id), |l, id| l.rows.contains_key(id));
        let authors =
            loaded.unseen(loaded.rows.values().map(|s| s.account_id), |l, id| l.authors.contains_key(id));
        if originals.is_empty() && authors.is_empty() {
            return Ok(loaded);
        }
        let mut second = self
            .lookup(
                &[
                    (EntityKind::Status, &originals),
                    (EntityKind::StatusCounts, &originals),
                    (EntityKind::Account, &authors),
                ],
                reading(viewer, &originals),
            )
            .await;
        let accounts = second.entities.pop().unwrap_or_default();
        let [statuses, counts] = two(&mut second.entities);
        let (statuses, stats, accounts) = tokio::join!(
            self.fill_shared_statuses(&originals, self.0.decoded_statuses.decode(&originals, statuses)),
            self.stats_from(viewer, &originals, decode_entities(counts), second.interactions),
            self.fill_shared_accounts(&authors, self.0.decoded_accounts.decode(&authors, accounts)),
        );
        loaded.stats.extend(stats?);
        loaded.authors.extend(accounts?.into_iter().map(|a| (a.id, a)));
        let statuses = statuses?;
        let unmet = loaded.unseen(statuses.iter().map(|s| s.account_id), |l, id| l.authors.contains_key(id));
        loaded.rows.extend(statuses.into_iter().map(|s| (s.id, s)));
        loaded.authors.extend(self.load_accounts(&unmet).await?.into_iter().map(|a| (a.id, Arc::new(a))));
        Ok(loaded)
    }

    /// The counts of `ids` and what `viewer` did with each, given what Redis had: `cached`
    /// counts (the slots of `ids`) and the viewer's `interactions` (as asked by [`reading`]);
    /// what it did not have comes from PostgreSQL in one query, none when it had everything.
    async fn stats_from(
        &self,
        viewer: Option<Id>,
        ids: &[Id],
        cached: Vec<Option<StatusCounts>>,
        interactions: Option<Interactions>,
    ) -> Result<HashMap<Id, StatusStats>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut done = match (viewer, interactions) {
            (Some(viewer), Some(cached)) => self.interactions(viewer, ids, cached).await?,
            // signed out: nothing done; a reader whose interactions were not read: ask PostgreSQL
            (None, _) => vec![Some(Interacted::default()); ids.len()],
            (Some(_), None) => vec![None; ids.len()],
        };
        let mut counts: HashMap<Id, StatusCounts> =
            ids.iter().zip(&cached).filter_map(|(id, c)| Some((*id, (*c)?))).collect();
        let missing: Vec<Id> = ids.iter().filter(|id| !counts.contains_key(id)).copied().collect();
        let unknown: Vec<Id> =
            ids.iter().zip(&done).filter(|(_, d)| d.is_none()).map(|(id, _)| *id).collect();
        if !missing.is_empty() || !unknown.is_empty() {
            let mut asking = [missing.as_slice(), unknown.as_slice()].concat();
            asking.sort_unstable();
            asking.dedup();
            let reader = viewer.filter(|_| !unknown.is_empty());
            let found = self.store().page_stats(&asking, &missing, reader).await?;
            let fresh: Vec<(Id, StatusCounts)> =
                found.iter().filter_map(|row| Some((row.id, row.counts?))).collect();
            let entries: Vec<(Id, &StatusCounts)> = fresh.iter().map(|(id, c)| (*id, c)).collect();
            self.cache_rows(EntityKind::StatusCounts, &entries).await;
            counts.extend(fresh);
            let asked: HashMap<Id, Interacted> = found.iter().map(|row| (row.id, row.done)).collect();
            for (id, d) in ids.iter().zip(done.iter_mut()) {
                if d.is_none() {
                    *d = asked.get(id).copied();
                }
            }
        }
        Ok(ids
            .iter()
            .zip(done)
            .map(|(id, done)| {
                let c = counts.get(id).copied().unwrap_or_default();
                let stats = StatusStats {
                    id: *id,
                    replies_count: c.replies_count,
                    reblogs_count: c.reblogs_count,
                    favourites_count: c.favourites_count,
                    done: done.unwrap_or_default(),
                };
                (*id, stats)
            })
            .collect())
    }

    /// What `viewer` did with each of `ids`, from its `cached` recent
    /// interactions, read from PostgreSQL and cached when Redis had none; `None` where not
    /// known (older than what is cached, or Redis failed): the caller asks PostgreSQL.
    async fn interactions(
        &self,
        viewer: Id,
        ids: &[Id],
        cached: Interactions,
    ) -> Result<Vec<Option<Interacted>>> {
        if let Some(known) = cached {
            return Ok(known);
        }
        let recent = self.store().recent_interactions(viewer, RECENT_INTERACTIONS).await?;
        let lists = recent.done.each_ref().map(Vec::as_slice);
        if let Err(error) = self.cache().put_interactions(viewer, recent.horizon, lists).await {
            tracing::warn!(%error, "interactions not cached");
        }
        Ok(ids.iter().map(|id| recent.with(*id)).collect())
    }

    /// After `account` favourited, reblogged, bookmarked or pinned something (or undid it): its cached interactions
    /// are stale.
    pub(crate) async fn forget_interactions(&self, account: Id) {
        if let Err(error) = self.cache().forget_interactions(account).await {
            tracing::warn!(%error, "stale interactions left in cache until their TTL");
        }
    }
}

/// What a lookup asks of `viewer`'s interactions: those with `statuses`, when signed in.
fn reading(viewer: Option<Id>, statuses: &[Id]) -> Option<(Id, &[Id])> {
    viewer.map(|viewer| (viewer, statuses))
}

/// The first two entries of a lookup's `entities`, taken out.
fn two(entities: &mut [Vec<Option<String>>]) -> [Vec<Option<String>>; 2] {
    match entities {
        [first, second, ..] => [std::mem::take(first), std::mem::take(second)],
        _ => [Vec::new(), Vec::new()],
    }
}

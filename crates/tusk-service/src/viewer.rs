//! What a reader's home read needs besides its feed: the hybrid authors it pulls, the accounts
//! hidden from it, and the hourly activity mark, all from Redis when warm.

use std::collections::HashSet;

use tusk_cache::HomeContext;
use tusk_core::{Id, PageRange};

use crate::{Result, Service};

/// What a home read filters and merges with.
pub(crate) struct HomeReader {
    pub hybrid_followees: Vec<Id>,
    pub hidden: HashSet<Id>,
    /// The pages read with the rest (its home feed's, `None` inside when the feed is missing or
    /// incomplete), as [`Cache::feed_pages`](tusk_cache::Cache::feed_pages) gives them; `None`
    /// when Redis failed.
    pub feed_pages: Option<Vec<Option<Vec<Id>>>>,
}

/// `cached`, or what `read` reads from PostgreSQL (and caches: a failure to is only logged).
async fn cached_or_read<F, Fut>(cached: Option<Vec<Id>>, what: &str, read: F) -> Result<Vec<Id>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(tusk_cache::Result<()>, Vec<Id>)>>,
{
    if let Some(ids) = cached {
        return Ok(ids);
    }
    let (cached, ids) = read().await?;
    if let Err(error) = cached {
        tracing::warn!(%error, what, "not cached");
    }
    Ok(ids)
}

impl Service {
    /// The page `range` of the reader's home feed, its hybrid followees and hidden accounts
    /// (read from PostgreSQL and cached when missing), in one round trip when cached; and its
    /// activity recorded at most once an hour, off the response path.
    pub(crate) async fn home_reader(&self, account: Id, range: &PageRange) -> Result<HomeReader> {
        let (context, read) = match self.cache().home_context(account, range).await {
            Ok(context) => (context, true),
            Err(error) => {
                tracing::warn!(%error, "home context unreadable, reading PostgreSQL");
                // PostgreSQL's own condition keeps the activity write hourly without the mark
                let context = HomeContext {
                    home_page: None,
                    activity_due: true,
                    hybrid_followees: None,
                    hidden_accounts: None,
                };
                (context, false)
            }
        };
        if context.activity_due {
            let store = self.store().clone();
            tokio::spawn(async move {
                if let Err(error) = store.touch_active(account).await {
                    tracing::warn!(%error, "activity not recorded");
                }
            });
        }
        let hybrid = cached_or_read(context.hybrid_followees, "hybrid followees", || async {
            let ids = self.store().hybrid_followees(account).await?;
            Ok((self.cache().put_hybrid_followees(account, &ids).await, ids))
        });
        let hidden = cached_or_read(context.hidden_accounts, "hidden accounts", || async {
            let ids = self.store().hidden_accounts(account).await?;
            Ok((self.cache().put_hidden_accounts(account, &ids).await, ids))
        });
        let (hybrid_followees, hidden) = tokio::try_join!(hybrid, hidden)?;
        let feed_pages = read.then(|| vec![context.home_page]);
        Ok(HomeReader { hybrid_followees, hidden: hidden.into_iter().collect(), feed_pages })
    }

    /// After a follow, mute, block (or their undoing, or an authorized follow request) between
    /// accounts: drops what their home reads cached of their relationships, both sides (a block
    /// hides each from the other).
    pub async fn forget_relationships(&self, accounts: &[Id]) {
        if let Err(error) = self.cache().forget_relationships(accounts).await {
            tracing::warn!(%error, "relationship caches left until their TTL");
        }
    }
}

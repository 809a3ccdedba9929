//! What a reader's home read needs besides its feed: the hybrid authors it pulls, the accounts
//! hidden from it, and the hourly activity mark, all from Redis when warm.

use std::collections::HashSet;

use tusk_cache::HomeContext;
use tusk_core::Id;

use crate::{Result, Service};

/// What a home read filters and merges with.
pub(crate) struct HomeReader {
    pub hybrid_followees: Vec<Id>,
    pub hidden: HashSet<Id>,
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
    /// The reader's hybrid followees and hidden accounts (read from PostgreSQL and cached when
    /// missing), and its activity recorded at most once an hour, off the response path.
    pub(crate) async fn home_reader(&self, account: Id) -> Result<HomeReader> {
        let context = match self.cache().home_context(account).await {
            Ok(context) => context,
            Err(error) => {
                tracing::warn!(%error, "home context unreadable, reading PostgreSQL");
                // PostgreSQL's own condition keeps the activity write hourly without the mark
                HomeContext { activity_due: true, hybrid_followees: None, hidden_accounts: None }
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
        Ok(HomeReader { hybrid_followees, hidden: hidden.into_iter().collect() })
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

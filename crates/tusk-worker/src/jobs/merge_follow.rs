use tusk_cache::Feed;
use tusk_core::{HOME_FEED_MAX_ITEMS, Id};

use super::{Job, JobError};
use crate::Worker;

/// How many of a newly followed account's statuses enter the follower's feed (Mastodon merges
/// a quarter of the feed's size).
const MERGE_LIMIT: i64 = (HOME_FEED_MAX_ITEMS / 4) as i64;

/// A new follow: the followed account's recent statuses enter the follower's home feed.
pub(crate) struct MergeFollow {
    pub account_id: Id,
    pub target_account_id: Id,
}

impl Job for MergeFollow {
    const NAME: &'static str = "merge_follow";

    async fn run(self, worker: &Worker) -> Result<(), JobError> {
        // events may be handled out of order: act on the follow as it stands now
        if !worker.store.relationship(self.account_id, self.target_account_id).await?.feeds_home() {
            return Ok(());
        }
        let ids = worker.store.recent_status_ids_for_followers(self.target_account_id, MERGE_LIMIT).await?;
        worker.cache.merge_into_feed(Feed::Home(self.account_id), &ids).await?;
        Ok(())
    }
}

/// An ended follow, or a mute: the account's statuses leave the home feed.
pub(crate) struct UnmergeFollow {
    pub account_id: Id,
    pub target_account_id: Id,
}

impl Job for UnmergeFollow {
    const NAME: &'static str = "unmerge_follow";

    async fn run(self, worker: &Worker) -> Result<(), JobError> {
        if worker.store.relationship(self.account_id, self.target_account_id).await?.feeds_home() {
            return Ok(());
        }
        // a feed holds at most 800 entries, so the target's newest 800 cover every one in it
        let ids = worker
            .store
            .recent_status_ids_for_followers(self.target_account_id, HOME_FEED_MAX_ITEMS as i64)
            .await?;
        worker.cache.remove_from_feeds(&[Feed::Home(self.account_id)], &ids, &[]).await?;
        Ok(())
    }
}

//! What an account keeps of statuses: bookmarks and pins, and the pages of its favourites and
//! bookmarks. Each change drops the account's cached interactions (the `bookmarked` and
//! `pinned` flags its reads show).

use tusk_core::{Id, PageRange, Visibility};
use tusk_store::StatusList;

use crate::{Result, Service, ServiceError, StatusView};

/// A page of a kept list: the statuses, and the ids of the first and last rows (favourites or
/// bookmarks) the `Link` header cuts by.
pub struct KeptPage {
    pub statuses: Vec<StatusView>,
    pub cut: Option<(Id, Id)>,
}

impl Service {
    /// Bookmarks what `id` stands for (the original of a reblog, as apps act on it); returns
    /// the bookmarked id.
    pub async fn bookmark(&self, me: Id, id: Id) -> Result<Id> {
        let status = self.acted_on(me, id).await?;
        self.store().bookmark(me, status.id).await?;
        self.forget_interactions(me).await;
        Ok(status.id)
    }

    pub async fn unbookmark(&self, me: Id, id: Id) -> Result<Id> {
        let status = self.acted_on(me, id).await?;
        self.store().unbookmark(me, status.id).await?;
        self.forget_interactions(me).await;
        Ok(status.id)
    }

    /// Pins `id` to `me`'s profile, as Mastodon's `StatusPinValidator` allows: its own
    /// statuses, not a reblog, not a direct one, at most five.
    pub async fn pin(&self, me: Id, id: Id) -> Result<Id> {
        let status = self.visible_status(Some(me), id).await?;
        let refused = if status.account_id != me {
            Some("Someone else's post cannot be pinned")
        } else if status.reblog_of_id.is_some() {
            Some("A boost cannot be pinned")
        } else if status.visibility() == Visibility::Direct {
            Some("Posts that are only visible to mentioned users cannot be pinned")
        } else if !self.store().pin(me, id).await? {
            Some("You have already pinned the maximum number of posts")
        } else {
            None
        };
        if let Some(reason) = refused {
            return Err(ServiceError::Unprocessable(format!("Validation failed: {reason}")));
        }
        self.forget_interactions(me).await;
        Ok(id)
    }

    pub async fn unpin(&self, me: Id, id: Id) -> Result<Id> {
        self.visible_status(Some(me), id).await?;
        self.store().unpin(me, id).await?;
        self.forget_interactions(me).await;
        Ok(id)
    }

    /// One page of what `me` favourited or bookmarked, newest first.
    pub async fn kept(&self, me: Id, list: StatusList, range: &PageRange) -> Result<KeptPage> {
        let rows = self.store().status_list_page(me, list, range).await?;
        let ids: Vec<Id> = rows.iter().map(|(_, status)| *status).collect();
        let cut = rows.first().zip(rows.last()).map(|((first, _), (last, _))| (*first, *last));
        Ok(KeptPage { statuses: self.status_views(Some(me), &ids).await?, cut })
    }
}

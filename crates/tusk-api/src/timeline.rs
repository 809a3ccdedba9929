//! Timelines and statuses as the handlers ask for them: the reads are the service's
//! (tusk-service), the Mastodon rendering is the api's.

use tusk_core::{Id, PageRange};
use tusk_service::StatusView;
use tusk_store::{AccountRow, StatusRow};

use crate::entities::Status;
use crate::{ApiError, AppState};

pub(crate) use tusk_service::AccountStatusesQuery;

impl AppState {
    /// Renders a view as a Mastodon Status, the original inside a reblog.
    fn render(&self, view: &StatusView) -> Status {
        let mut rendered = Status::new(&self.instance, &view.status, &view.author);
        rendered.with_stats(&view.stats);
        if let Some(original) = &view.reblog {
            rendered.reblog = serde_json::to_value(self.render(original)).ok();
        }
        rendered
    }

    fn render_all(&self, views: &[StatusView]) -> Vec<Status> {
        views.iter().map(|view| self.render(view)).collect()
    }

    /// One page of `account`'s home timeline (see `Service::home_timeline`).
    pub(crate) async fn home_timeline(
        &self,
        account: Id,
        range: &PageRange,
    ) -> Result<Vec<Status>, ApiError> {
        Ok(self.render_all(&self.service.home_timeline(account, range).await?))
    }

    /// The status `id` if `viewer` may see it; `NotFound` otherwise.
    pub(crate) async fn visible_status(&self, viewer: Option<Id>, id: Id) -> Result<StatusRow, ApiError> {
        Ok(self.service.visible_status(viewer, id).await?)
    }

    /// One page of the public timeline.
    pub(crate) async fn public_timeline(
        &self,
        viewer: Option<Id>,
        range: &PageRange,
    ) -> Result<Vec<Status>, ApiError> {
        Ok(self.render_all(&self.service.public_timeline(viewer, range).await?))
    }

    /// One page of `account`'s statuses as `viewer` may see them.
    pub(crate) async fn account_statuses(
        &self,
        viewer: Option<Id>,
        account: Id,
        query: &AccountStatusesQuery,
        range: &PageRange,
    ) -> Result<Vec<Status>, ApiError> {
        Ok(self.render_all(&self.service.account_statuses(viewer, account, query, range).await?))
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
        Ok(self.render_all(&self.service.status_views(viewer, ids).await?))
    }

    /// One status as `viewer` sees it.
    pub(crate) async fn render_status(&self, viewer: Option<Id>, id: Id) -> Result<Status, ApiError> {
        self.render_statuses_for(viewer, &[id]).await?.pop().ok_or(ApiError::NotFound)
    }

    pub(crate) async fn load_account(&self, id: Id) -> Result<AccountRow, ApiError> {
        Ok(self.service.load_account(id).await?)
    }
}

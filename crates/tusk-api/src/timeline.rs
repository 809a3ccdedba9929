//! Timelines and statuses as the handlers ask for them: the reads are the service's
//! (tusk-service), the Mastodon rendering is the api's.

use std::collections::{HashMap, HashSet};

use tusk_core::{Id, PageRange};
use tusk_service::{GroupedNotifications, NotificationView, StatusView};
use tusk_store::{AccountRow, StatusRow};

use crate::entities::{
    EmbeddedAccount, GroupedNotificationsResults, Notification, NotificationGroup, PartialAccountWithAvatar,
    Status,
};
use crate::{ApiError, AppState};

pub(crate) use tusk_service::AccountStatusesQuery;

impl AppState {
    /// Renders a view as a Mastodon Status, the original inside a reblog; each author is
    /// looked up once per call of [`AppState::render_views`] (`authors`), each status and
    /// author rendered once per version of its row (render.rs).
    fn render(&self, view: &StatusView, authors: &mut HashMap<Id, EmbeddedAccount>) -> Status {
        let account = self.account_once(&view.author, authors);
        let mut rendered = self.rendered.status(&self.instance, &view.status, &view.author.username, account);
        rendered.with_stats(&view.stats);
        if let Some(original) = &view.reblog {
            rendered.reblog = Some(Box::new(self.render(original, authors)));
        }
        rendered
    }

    /// Renders views read already, each author once.
    pub(crate) fn render_views(&self, views: &[StatusView]) -> Vec<Status> {
        let mut authors = HashMap::new();
        views.iter().map(|view| self.render(view, &mut authors)).collect()
    }

    /// One page of `account`'s home timeline (see `Service::home_timeline`).
    pub(crate) async fn home_timeline(
        &self,
        account: Id,
        range: &PageRange,
    ) -> Result<Vec<Status>, ApiError> {
        Ok(self.render_views(&self.service.home_timeline(account, range).await?))
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
        only_media: bool,
    ) -> Result<Vec<Status>, ApiError> {
        Ok(self.render_views(&self.service.public_timeline(viewer, range, only_media).await?))
    }

    /// One page of `account`'s statuses as `viewer` may see them.
    pub(crate) async fn account_statuses(
        &self,
        viewer: Option<Id>,
        account: Id,
        query: &AccountStatusesQuery,
        range: &PageRange,
    ) -> Result<Vec<Status>, ApiError> {
        Ok(self.render_views(&self.service.account_statuses(viewer, account, query, range).await?))
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
        Ok(self.render_views(&self.service.status_views(viewer, ids).await?))
    }

    /// One status as `viewer` sees it.
    pub(crate) async fn render_status(&self, viewer: Option<Id>, id: Id) -> Result<Status, ApiError> {
        self.render_statuses_for(viewer, &[id]).await?.pop().ok_or(ApiError::NotFound)
    }

    /// Renders notifications, each sender and status once.
    pub(crate) fn render_notifications(&self, views: &[NotificationView]) -> Vec<Notification> {
        let mut authors = HashMap::new();
        views
            .iter()
            .map(|view| {
                let account = self.account_once(&view.account, &mut authors);
                let status = view.status.as_ref().map(|status| self.render(status, &mut authors));
                Notification::new(&view.notification, account, status)
            })
            .collect()
    }

    /// Renders a page of groups; with `partial`, `accounts` holds each group's first sender
    /// and `partial_accounts` the others (Mastodon's `expand_accounts=partial_avatars`).
    pub(crate) fn render_groups(
        &self,
        page: &GroupedNotifications,
        partial: bool,
    ) -> GroupedNotificationsResults {
        let mut authors = HashMap::new();
        let statuses = page.statuses.iter().map(|status| self.render(status, &mut authors)).collect();
        // the service lists each sample account once, in the order the groups name them
        let rendered: Vec<EmbeddedAccount> =
            page.accounts.iter().map(|row| self.account_once(row, &mut authors)).collect();
        let (full, partial_accounts) = if partial {
            let firsts: HashSet<Id> =
                page.groups.iter().filter_map(|g| g.group.sample_account_ids.first().copied()).collect();
            let (first, rest): (Vec<_>, Vec<_>) = rendered.into_iter().partition(|a| firsts.contains(&a.id));
            (first, Some(rest.iter().map(|account| PartialAccountWithAvatar::new(account)).collect()))
        } else {
            (rendered, None)
        };
        GroupedNotificationsResults {
            accounts: full,
            partial_accounts,
            statuses,
            notification_groups: page.groups.iter().map(NotificationGroup::new).collect(),
        }
    }

    fn account_once(&self, row: &AccountRow, authors: &mut HashMap<Id, EmbeddedAccount>) -> EmbeddedAccount {
        authors.entry(row.id).or_insert_with(|| self.rendered.account(&self.instance, row)).clone()
    }

    pub(crate) async fn load_account(&self, id: Id) -> Result<AccountRow, ApiError> {
        Ok(self.service.load_account(id).await?)
    }
}

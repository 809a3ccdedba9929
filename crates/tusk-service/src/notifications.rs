//! Notifications: written by the workers from the events (a request never waits for them),
//! announced on the recipient's stream when it listens, and read one by one (v1) or grouped
//! (v2); and the markers that say where a reader stopped.

use std::collections::HashMap;

use tusk_core::{Event, Id, NotificationType, PageRange};
use tusk_store::{
    AccountRow, MarkerRow, NewNotification, NotificationFilter, NotificationGroupRow, NotificationRow,
    StoreError,
};

use crate::{Result, Service, ServiceError, StatusView};

/// A notification with what an edge needs to show it.
#[derive(Clone, Debug)]
pub struct NotificationView {
    pub notification: NotificationRow,
    pub account: AccountRow,
    pub status: Option<StatusView>,
}

/// A page of notification groups with the accounts and statuses they name, each once.
#[derive(Clone, Debug, Default)]
pub struct GroupedNotifications {
    pub groups: Vec<GroupView>,
    pub accounts: Vec<AccountRow>,
    pub statuses: Vec<StatusView>,
}

/// One group of a page: its summary, and the oldest of its notifications the page covers.
#[derive(Clone, Debug)]
pub struct GroupView {
    pub group: NotificationGroupRow,
    /// `None` outside a page (one group asked by its key).
    pub page_min_id: Option<Id>,
}

fn carries_status(kind: &str) -> bool {
    NotificationType::parse(kind).is_some_and(NotificationType::carries_status)
}

impl Service {
    /// The notifications an event makes (run by the workers): a mention for each local
    /// account a new status mentions, a reblog for the original's author, a follow or a follow
    /// request for the followed account, a favourite for the author. Never for one's own
    /// action, nor from an account the recipient blocks or mutes; a redelivered event finds
    /// its notifications written and adds nothing.
    pub async fn notify_for(&self, event: &Event) -> Result<()> {
        if !self.notifications_enabled() {
            return Ok(());
        }
        let mut due = Vec::new();
        match *event {
            Event::StatusCreated { status_id, account_id } => {
                // a status deleted before its notifications were written takes them with it
                let Some(status) = self.load_statuses(&[status_id]).await?.pop() else { return Ok(()) };
                if let Some(original) = status.reblog_of_id {
                    let Some(original) = self.load_statuses(&[original]).await?.pop() else { return Ok(()) };
                    due.push(NewNotification {
                        recipient: original.account_id,
                        kind: NotificationType::Reblog,
                        from: account_id,
                        status: Some(original.id),
                    });
                }
                due.extend(status.mentions.iter().map(|mentioned| NewNotification {
                    recipient: mentioned.id,
                    kind: NotificationType::Mention,
                    from: account_id,
                    status: Some(status_id),
                }));
            }
            Event::FollowCreated { account_id, target_account_id, approved: false } => {
                due.push(NewNotification {
                    recipient: target_account_id,
                    kind: NotificationType::Follow,
                    from: account_id,
                    status: None,
                });
            }
            Event::FollowRequested { account_id, target_account_id } => {
                due.push(NewNotification {
                    recipient: target_account_id,
                    kind: NotificationType::FollowRequest,
                    from: account_id,
                    status: None,
                });
            }
            Event::Favourited { account_id, status_id } => {
                return self.notify_favourites(status_id, &[account_id]).await;
            }
            Event::Favourites { status_id, ref account_ids } => {
                return self.notify_favourites(status_id, account_ids).await;
            }
            Event::FollowCreated { approved: true, .. }
            | Event::FollowRemoved { .. }
            | Event::StatusDeleted { .. }
            | Event::AccountMuted { .. }
            | Event::MediaUploaded { .. }
            | Event::ProfileImageUploaded { .. } => {}
        }
        self.write_notifications(&due).await
    }

    /// The author of `status_id` is notified of the favourites of `accounts`, in one write.
    async fn notify_favourites(&self, status_id: Id, accounts: &[Id]) -> Result<()> {
        // a status deleted before its notifications were written takes them with it
        let Some(status) = self.load_statuses(&[status_id]).await?.pop() else { return Ok(()) };
        let due: Vec<NewNotification> = accounts
            .iter()
            .map(|from| NewNotification {
                recipient: status.account_id,
                kind: NotificationType::Favourite,
                from: *from,
                status: Some(status_id),
            })
            .collect();
        self.write_notifications(&due).await
    }

    /// Writes `due` (one statement), counts what was written and announces it to each
    /// recipient's stream, if it listens.
    async fn write_notifications(&self, due: &[NewNotification]) -> Result<()> {
        let written = self.store().notify(due).await?;
        let mut announced: HashMap<Id, Vec<Id>> = HashMap::new();
        for (recipient, row) in &written {
            self.metrics().notifications(&row.kind).inc();
            announced.entry(*recipient).or_default().push(row.id);
        }
        for (recipient, ids) in announced {
            // a stream that misses them shows them on its next read; the writes stand
            if let Err(error) = self.cache().announce_notifications(recipient, &ids).await {
                tracing::warn!(%error, "notifications not announced");
            }
        }
        Ok(())
    }

    /// One page of `me`'s notifications, newest first.
    pub async fn notifications(
        &self,
        me: Id,
        filter: &NotificationFilter,
        range: &PageRange,
    ) -> Result<Vec<NotificationView>> {
        let rows = self.store().notification_page(me, filter, range).await?;
        self.notification_views(me, rows).await
    }

    /// One of `me`'s notifications.
    pub async fn notification(&self, me: Id, id: Id) -> Result<NotificationView> {
        let row = self.store().notification(me, id).await?;
        self.notification_views(me, vec![row]).await?.pop().ok_or(ServiceError::NotFound)
    }

    /// The views of `rows`, in their order; a notification whose sender or status no longer
    /// exists (or whose status `me` may no longer see) is left out.
    async fn notification_views(&self, me: Id, rows: Vec<NotificationRow>) -> Result<Vec<NotificationView>> {
        let (accounts, statuses) = self
            .accounts_and_statuses(
                me,
                rows.iter().map(|n| n.from_account_id),
                rows.iter().filter(|n| carries_status(&n.kind)).filter_map(|n| n.status_id),
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|notification| {
                let account = accounts.get(&notification.from_account_id)?.clone();
                let status = match notification.status_id.filter(|_| carries_status(&notification.kind)) {
                    Some(id) => Some(statuses.get(&id)?.clone()),
                    None => None,
                };
                Some(NotificationView { notification, account, status })
            })
            .collect())
    }

    /// The accounts and the statuses (as `me` sees them, visibility checked) a page names.
    async fn accounts_and_statuses(
        &self,
        me: Id,
        accounts: impl Iterator<Item = Id>,
        statuses: impl Iterator<Item = Id>,
    ) -> Result<(HashMap<Id, AccountRow>, HashMap<Id, StatusView>)> {
        let mut account_ids: Vec<Id> = accounts.collect();
        account_ids.sort_unstable();
        account_ids.dedup();
        let mut status_ids: Vec<Id> = statuses.collect();
        status_ids.sort_unstable();
        status_ids.dedup();
        let (accounts, views) =
            tokio::join!(self.load_accounts(&account_ids), self.status_views(Some(me), &status_ids));
        let views = views?;
        let visible = self.visible_among(Some(me), views.iter().map(|v| &*v.status)).await?;
        Ok((
            accounts?.into_iter().map(|a| (a.id, a)).collect(),
            views.into_iter().filter(|v| visible.contains(&v.status.id)).map(|v| (v.status.id, v)).collect(),
        ))
    }

    pub async fn dismiss_notification(&self, me: Id, id: Id) -> Result<()> {
        Ok(self.store().dismiss_notification(me, id).await?)
    }

    /// Dismisses a group; dismissing one that is gone already is no error (as in Mastodon).
    pub async fn dismiss_notification_group(&self, me: Id, group_key: &str) -> Result<()> {
        match self.store().dismiss_notification_group(me, group_key).await {
            Ok(()) | Err(StoreError::NotFound) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    pub async fn clear_notifications(&self, me: Id) -> Result<()> {
        Ok(self.store().clear_notifications(me).await?)
    }

    /// How many notifications are newer than `me`'s notifications marker, up to `limit`.
    pub async fn unread_notifications(&self, me: Id, filter: &NotificationFilter, limit: i64) -> Result<i64> {
        Ok(self.store().unread_notifications(me, filter, limit).await?)
    }

    /// How many groups hold a notification newer than `me`'s marker, up to `limit`.
    pub async fn unread_notification_groups(
        &self,
        me: Id,
        filter: &NotificationFilter,
        grouped: Option<&[String]>,
        limit: i64,
    ) -> Result<i64> {
        Ok(self.store().unread_notification_groups(me, filter, grouped, limit).await?)
    }

    /// One page of `me`'s notification groups (Mastodon 4.3's grouped notifications): each
    /// group once, at its latest notification; `grouped` the types that group (the groupable
    /// ones unless asked).
    pub async fn notification_groups(
        &self,
        me: Id,
        filter: &NotificationFilter,
        grouped: Option<&[String]>,
        range: &PageRange,
    ) -> Result<GroupedNotifications> {
        let rows = self.store().notification_group_page(me, filter, grouped, range).await?;
        // the page spans from its last group's latest notification up (down to the page's
        // lower bound when it is not full): each group shows the oldest of its notifications
        // within that span, as Mastodon's `page_min_id`
        let floor = if rows.len() < range.limit {
            range.lower().map(|lower| Id(lower.0.saturating_add(1)))
        } else {
            rows.last().map(|g| g.latest_notification_id)
        };
        let keys: Vec<&str> = rows.iter().map(|g| g.group_key.as_str()).collect();
        let mins = if keys.is_empty() {
            HashMap::new()
        } else {
            self.store().group_page_min_ids(me, &keys, floor).await?
        };
        let groups = rows
            .into_iter()
            .map(|group| {
                let page_min_id =
                    Some(mins.get(&group.group_key).copied().unwrap_or(group.latest_notification_id));
                GroupView { group, page_min_id }
            })
            .collect();
        self.group_views(me, groups).await
    }

    /// One of `me`'s groups by its key (`ungrouped-{id}` names a single notification).
    pub async fn notification_group(&self, me: Id, group_key: &str) -> Result<GroupedNotifications> {
        let group = match self.store().notification_group(me, group_key).await {
            Ok(group) => group,
            Err(StoreError::NotFound) => {
                // a notification of a groupable type read one by one
                let id = group_key.strip_prefix("ungrouped-").and_then(|id| id.parse().ok());
                let single = self.store().notification(me, id.ok_or(ServiceError::NotFound)?).await?;
                NotificationGroupRow {
                    group_key: group_key.to_owned(),
                    kind: single.kind,
                    status_id: single.status_id,
                    notifications_count: 1,
                    latest_notification_id: single.id,
                    latest_at: single.created_at,
                    sample_account_ids: vec![single.from_account_id],
                }
            }
            Err(other) => return Err(other.into()),
        };
        let grouped = self.group_views(me, vec![GroupView { group, page_min_id: None }]).await?;
        if grouped.groups.is_empty() { Err(ServiceError::NotFound) } else { Ok(grouped) }
    }

    /// The accounts and statuses of `groups`; a group whose status is gone or hidden, or with
    /// no sender left, is left out.
    async fn group_views(&self, me: Id, groups: Vec<GroupView>) -> Result<GroupedNotifications> {
        let (accounts, statuses) = self
            .accounts_and_statuses(
                me,
                groups.iter().flat_map(|g| g.group.sample_account_ids.iter().copied()),
                groups.iter().filter(|g| carries_status(&g.group.kind)).filter_map(|g| g.group.status_id),
            )
            .await?;
        let mut page = GroupedNotifications::default();
        let mut named_accounts = Vec::new();
        let mut named_statuses = Vec::new();
        for mut view in groups {
            view.group.sample_account_ids.retain(|id| accounts.contains_key(id));
            if view.group.sample_account_ids.is_empty() {
                continue;
            }
            if carries_status(&view.group.kind) {
                match view.group.status_id.and_then(|id| statuses.get(&id)) {
                    Some(status) => named_statuses.push(status.status.id),
                    None => continue,
                }
            }
            named_accounts.extend(view.group.sample_account_ids.iter().copied());
            page.groups.push(view);
        }
        dedup_in_order(&mut named_accounts);
        dedup_in_order(&mut named_statuses);
        page.accounts = named_accounts.iter().filter_map(|id| accounts.get(id).cloned()).collect();
        page.statuses = named_statuses.iter().filter_map(|id| statuses.get(id).cloned()).collect();
        Ok(page)
    }

    /// `me`'s markers of the `timelines` asked (those it ever set).
    pub async fn markers(&self, me: Id, timelines: &[&str]) -> Result<Vec<MarkerRow>> {
        Ok(self.store().markers(me, timelines).await?)
    }

    /// Sets `me`'s markers; answers the markers set.
    pub async fn save_markers(&self, me: Id, markers: &[(&str, Id)]) -> Result<Vec<MarkerRow>> {
        Ok(self.store().save_markers(me, markers).await?)
    }
}

fn dedup_in_order(ids: &mut Vec<Id>) {
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
}

//! Statuses: posting (with an `Idempotency-Key`), deleting, reblogs and favourites, and the
//! thread around a status. A post or a deletion is one PostgreSQL transaction with its outbox
//! event; fan-out happens in the workers.

use tusk_cache::EntityKind;
use tusk_core::{Id, StatusText, Visibility, html};
use tusk_store::{CreatedStatus, NewStatus, StatusRow};

use crate::{Result, Service, ServiceError};

/// A status to post, its input already validated.
pub struct NewPost<'a> {
    pub account: Id,
    /// The app the token was issued to.
    pub application: Id,
    pub text: StatusText,
    pub spoiler_text: &'a str,
    /// `None`: the author's posting default (`/api/v1/preferences`), as for `visibility` and
    /// `language`, as Mastodon's `PostStatusService` fills them.
    pub sensitive: Option<bool>,
    pub visibility: Option<Visibility>,
    pub language: Option<&'a str>,
    pub in_reply_to: Option<Id>,
    /// The sha256 of the request's `Idempotency-Key`.
    pub idempotency_key: Option<Vec<u8>>,
    /// This server's domain: `@name@domain` mentions a local account too.
    pub domain: &'a str,
    /// Processed uploads of the author's to attach, in this order (at most 4).
    pub media_ids: &'a [Id],
}

impl Service {
    /// Stores the status with its event (and its `Idempotency-Key`) in one transaction, then
    /// publishes the event. A retry with the same key within the hour gets the status the
    /// first request created, on any replica, even when that request's replica died after its
    /// commit (a 404 when it was deleted since, as in Mastodon).
    pub async fn post_status(&self, post: NewPost<'_>) -> Result<StatusRow> {
        // replying to what one cannot see is replying to nothing, as in Mastodon
        let parent = match post.in_reply_to {
            Some(parent) => Some(self.visible_status(Some(post.account), parent).await?),
            None => None,
        };
        // mentions of accounts elsewhere wait for federation; those here that exist are stored
        let mentions: Vec<String> = html::mentions(post.text.as_str())
            .into_iter()
            .filter(|(_, domain)| tusk_core::instance::is_local(domain.as_deref(), post.domain))
            .map(|(username, _)| username)
            .collect();
        let tags = html::hashtags(post.text.as_str());
        self.check_attachable(post.account, post.media_ids).await?;
        let created = self
            .store()
            .create_status(&NewStatus {
                account_id: post.account,
                text: &post.text,
                spoiler_text: post.spoiler_text,
                // a content warning makes it sensitive whatever was asked
                sensitive: if post.spoiler_text.is_empty() { post.sensitive } else { Some(true) },
                visibility: post.visibility,
                language: post.language,
                in_reply_to: parent.as_ref(),
                application_id: Some(post.application),
                idempotency_key: post.idempotency_key.as_deref(),
                mentions: &mentions,
                tags: &tags,
                media_ids: post.media_ids,
            })
            .await
            .map_err(|error| match error {
                tusk_store::StoreError::Conflict(what) if what == "media_attachments" => {
                    ServiceError::Unprocessable("Media attachments changed while posting; try again".into())
                }
                other => other.into(),
            })?;
        let (status, event) = match created {
            CreatedStatus::New(status, event) => (*status, event),
            CreatedStatus::Existing(id) => {
                return self.load_statuses(&[id]).await?.pop().ok_or(ServiceError::NotFound);
            }
        };
        self.metrics().statuses_created_total.inc();
        self.remember_status(&status).await;
        self.forget(EntityKind::Account, &[post.account]).await;
        if let Some(parent) = &parent {
            // its replies_count moved
            self.forget(EntityKind::StatusCounts, &[parent.id]).await;
        }
        // fault tests only (never in a release build): die between the commit and the publish
        #[cfg(feature = "fault-injection")]
        if std::env::var_os("TUSK_FAULT_CRASH_AFTER_COMMIT").is_some() {
            std::process::abort();
        }
        self.publish(event).await;
        Ok(status)
    }

    /// Deletes `me`'s status `id` (anyone else's is not found); the workers take it out of every
    /// feed. Returns the deleted status.
    pub async fn delete_status(&self, me: Id, id: Id) -> Result<StatusRow> {
        let (status, event) = self.store().delete_status(me, id).await?;
        self.forget(EntityKind::Status, &[id]).await;
        // the counts it moved: its parent's replies, its original's reblogs
        let counted: Vec<Id> =
            [Some(id), status.in_reply_to_id, status.reblog_of_id].into_iter().flatten().collect();
        self.forget(EntityKind::StatusCounts, &counted).await;
        self.forget(EntityKind::Account, &[me]).await;
        if status.reblog_of_id.is_some() {
            self.forget_interactions(me).await;
        }
        self.publish(event).await;
        Ok(status)
    }

    /// Favourites what `id` stands for (the original of a reblog); returns the favourited id.
    pub async fn favourite(&self, me: Id, id: Id) -> Result<Id> {
        let status = self.acted_on(me, id).await?;
        let event = self.store().favourite(me, status.id, self.notifications_enabled()).await?;
        self.favourites_moved(me, status.id).await;
        if let Some(event) = event {
            self.publish(event).await;
        }
        Ok(status.id)
    }

    pub async fn unfavourite(&self, me: Id, id: Id) -> Result<Id> {
        let status = self.acted_on(me, id).await?;
        self.store().unfavourite(me, status.id).await?;
        self.favourites_moved(me, status.id).await;
        Ok(status.id)
    }

    /// After `me` favourited `status` or took it back: its counts and `me`'s interactions are
    /// stale.
    async fn favourites_moved(&self, me: Id, status: Id) {
        self.forget(EntityKind::StatusCounts, &[status]).await;
        self.forget_interactions(me).await;
    }

    /// Reblogs what `id` stands for, as Mastodon's `StatusPolicy#reblog?`: direct statuses
    /// never, private ones only by their author (and the reblog stays private); public and
    /// unlisted ones with the `visibility` asked (not direct). Returns the reblog's id.
    pub async fn reblog(&self, me: Id, application: Id, id: Id, visibility: Visibility) -> Result<Id> {
        if visibility == Visibility::Direct {
            return Err(ServiceError::Unprocessable("Visibility is invalid".into()));
        }
        let original = self.acted_on(me, id).await?;
        let visibility = match original.visibility() {
            Visibility::Direct => return Err(ServiceError::Forbidden),
            Visibility::Private if original.account_id != me => return Err(ServiceError::Forbidden),
            Visibility::Private => Visibility::Private,
            Visibility::Public | Visibility::Unlisted => visibility,
        };
        let (reblog, event) = self.store().reblog(me, &original, visibility, Some(application)).await?;
        if let Some(event) = event {
            self.forget(EntityKind::Account, &[me]).await;
            self.forget_interactions(me).await;
            self.forget(EntityKind::StatusCounts, &[original.id]).await;
            self.publish(event).await;
        }
        Ok(reblog.id)
    }

    /// Undoes `me`'s reblog of what `id` stands for; returns the original's id.
    pub async fn unreblog(&self, me: Id, id: Id) -> Result<Id> {
        let original = self.acted_on(me, id).await?;
        if let Some((reblog, event)) = self.store().unreblog(me, original.id).await? {
            self.forget(EntityKind::Status, &[reblog]).await;
            self.forget(EntityKind::Account, &[me]).await;
            self.forget_interactions(me).await;
            self.forget(EntityKind::StatusCounts, &[reblog, original.id]).await;
            self.publish(event).await;
        }
        Ok(original.id)
    }

    /// The thread around `id` as far as `viewer` may see it: ancestors and descendants, oldest
    /// first. `NotFound` if the status itself is hidden from the viewer.
    pub async fn thread(&self, viewer: Option<Id>, id: Id) -> Result<(Vec<Id>, Vec<Id>)> {
        self.visible_status(viewer, id).await?;
        let (ancestors, descendants) = self.store().thread(id).await?;
        let ancestors = self.visible_ids(viewer, &ancestors).await?;
        let descendants = self.visible_ids(viewer, &descendants).await?;
        Ok((ancestors, descendants))
    }

    /// The status an action on `id` acts on: the original when `id` is a reblog, as in Mastodon.
    pub(crate) async fn acted_on(&self, viewer: Id, id: Id) -> Result<StatusRow> {
        let status = self.visible_status(Some(viewer), id).await?;
        match status.reblog_of_id {
            Some(original) => self.visible_status(Some(viewer), original).await,
            None => Ok(status),
        }
    }
}

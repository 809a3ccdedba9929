//! Relationships: follows (and follow requests of locked accounts), blocks and mutes. Each
//! change is one PostgreSQL transaction with its outbox events; the events then go to the
//! workers, which merge or clean home feeds.

use tusk_cache::EntityKind;
use tusk_core::Id;
use tusk_store::{OutboxEntry, Relationship};

use crate::{Result, Service, ServiceError};

/// Whether a relationship change moves the accounts' follower and following counts (a follow,
/// unfollow, block or authorized request does; a mute or a rejection does not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counts {
    Move,
    Keep,
}

impl Service {
    /// Follows `target` at once, or, when it is locked, leaves a follow request for it to
    /// answer (the relationship says `requested`).
    pub async fn follow(&self, me: Id, target: Id) -> Result<Relationship> {
        other_than_self(me, target)?;
        let events = self.store().follow(me, target).await?.into_iter().collect();
        self.settle(me, target, events, Counts::Move).await
    }

    /// Ends the follow, or withdraws a pending request.
    pub async fn unfollow(&self, me: Id, target: Id) -> Result<Relationship> {
        let events = self.store().unfollow(me, target).await?.into_iter().collect();
        self.settle(me, target, events, Counts::Move).await
    }

    /// Ends the follows both ways; the workers clean both homes.
    pub async fn block(&self, me: Id, target: Id) -> Result<Relationship> {
        other_than_self(me, target)?;
        let events = self.store().block(me, target).await?;
        self.settle(me, target, events, Counts::Move).await
    }

    pub async fn unblock(&self, me: Id, target: Id) -> Result<Relationship> {
        self.store().unblock(me, target).await?;
        self.settle(me, target, Vec::new(), Counts::Keep).await
    }

    /// The target's statuses leave the home feed, and later ones are not delivered there.
    pub async fn mute(&self, me: Id, target: Id) -> Result<Relationship> {
        other_than_self(me, target)?;
        let events = self.store().mute(me, target).await?.into_iter().collect();
        self.settle(me, target, events, Counts::Keep).await
    }

    pub async fn unmute(&self, me: Id, target: Id) -> Result<Relationship> {
        self.store().unmute(me, target).await?;
        self.settle(me, target, Vec::new(), Counts::Keep).await
    }

    /// `follower`'s request to follow `me` becomes a follow (its home gets `me`'s statuses, as
    /// after any follow). A request addressed to someone else is not found.
    pub async fn authorize_follow_request(&self, me: Id, follower: Id) -> Result<Relationship> {
        let events = self.store().authorize_follow_request(me, follower).await?.into_iter().collect();
        self.settle(me, follower, events, Counts::Move).await
    }

    pub async fn reject_follow_request(&self, me: Id, follower: Id) -> Result<Relationship> {
        self.store().reject_follow_request(me, follower).await?;
        self.settle(me, follower, Vec::new(), Counts::Keep).await
    }

    /// `me`'s relationships with each of `targets` that exists.
    pub async fn relationships(&self, me: Id, targets: &[Id]) -> Result<Vec<(Id, Relationship)>> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.store().relationships(me, targets).await?)
    }

    /// After a relationship change: drops the cached accounts whose counts moved (when the
    /// change did something), publishes its events, and returns the relationship as it now
    /// stands.
    async fn settle(
        &self,
        me: Id,
        target: Id,
        events: Vec<OutboxEntry>,
        counts: Counts,
    ) -> Result<Relationship> {
        if counts == Counts::Move && !events.is_empty() {
            self.forget(EntityKind::Account, &[me, target]).await;
        }
        // both sides: a block hides each from the other, a follow may pull a hybrid author
        self.forget_relationships(&[me, target]).await;
        for event in events {
            self.publish(event).await;
        }
        Ok(self.store().relationship(me, target).await?)
    }
}

/// Following, blocking or muting oneself is not allowed (403, as Mastodon answers).
fn other_than_self(me: Id, target: Id) -> Result<()> {
    if me == target { Err(ServiceError::Forbidden) } else { Ok(()) }
}

//! Events the api writes to the outbox and publishes to RabbitMQ; the worker's jobs consume them.
//! The JSON form is part of the queue contract between api and worker versions.

use serde::{Deserialize, Serialize};

use crate::Id;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A status was stored: put it into the author's and the followers' home feeds.
    StatusCreated { status_id: Id, account_id: Id },
    /// `account_id` now follows `target_account_id`: merge the target's recent statuses, and
    /// notify the target unless it `approved` a request (it was notified of the request).
    FollowCreated {
        account_id: Id,
        target_account_id: Id,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        approved: bool,
    },
    /// `account_id` asked to follow the locked `target_account_id`: notify the target.
    FollowRequested { account_id: Id, target_account_id: Id },
    /// `account_id` favourited `status_id`: notify its author. Written to the outbox with the
    /// favourite and [`deferred`](Event::deferred): the relay publishes it, coalesced.
    Favourited { account_id: Id, status_id: Id },
    /// The accounts favourited `status_id` (in this order): notify its author. What the relay
    /// publishes for the `Favourited` events of one status it finds together, so that a storm
    /// of favourites on a popular post is a message and a write per batch, not per favourite.
    Favourites { status_id: Id, account_ids: Vec<Id> },
    /// `account_id` no longer follows `target_account_id`: remove the target's statuses.
    FollowRemoved { account_id: Id, target_account_id: Id },
    /// A status was deleted: take it out of every feed it was written to.
    StatusDeleted { status_id: Id, account_id: Id },
    /// `account_id` muted `target_account_id`: remove the target's statuses from its home.
    AccountMuted { account_id: Id, target_account_id: Id },
    /// `account_id` uploaded the attachment `media_id`: process it (the `media` queue).
    MediaUploaded { media_id: Id, account_id: Id },
    /// `account_id` uploaded a new avatar or header, stored raw at `upload_key`: process it and
    /// put it on the profile (the `media` queue).
    ProfileImageUploaded { account_id: Id, image: ProfileImage, upload_key: String },
}

/// Which picture of a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileImage {
    Avatar,
    Header,
}

impl ProfileImage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Avatar => "avatar",
            Self::Header => "header",
        }
    }
}

impl Event {
    /// The AMQP routing key, `<entity>.<what happened>`.
    pub fn routing_key(&self) -> &'static str {
        match self {
            Self::StatusCreated { .. } => "status.created",
            Self::FollowCreated { .. } => "follow.created",
            Self::FollowRemoved { .. } => "follow.removed",
            Self::FollowRequested { .. } => "follow.requested",
            Self::Favourited { .. } => "favourite.created",
            Self::Favourites { .. } => "favourite.batch",
            Self::StatusDeleted { .. } => "status.deleted",
            Self::AccountMuted { .. } => "account.muted",
            Self::MediaUploaded { .. } => "media.uploaded",
            Self::ProfileImageUploaded { .. } => "media.profile",
        }
    }
}

impl Event {
    /// Whether the request that wrote this event leaves it to the outbox relay instead of
    /// publishing it itself: nobody waits for it (a notification may come a poll interval
    /// later), and the relay coalesces what it finds together ([`coalesce`]).
    pub fn deferred(&self) -> bool {
        matches!(self, Self::Favourited { .. })
    }
}

/// `events` as the relay publishes them, in their order: the `Favourited` events of each status
/// become one `Favourites` (where the first of them was), every other event stays as it is.
pub fn coalesce(events: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::with_capacity(events.len());
    // the index in `out` of each status's `Favourites`
    let mut batches: std::collections::HashMap<Id, usize> = std::collections::HashMap::new();
    for event in events {
        let Event::Favourited { account_id, status_id } = event else {
            out.push(event);
            continue;
        };
        if let Some(Event::Favourites { account_ids, .. }) =
            batches.get(&status_id).and_then(|i| out.get_mut(*i))
        {
            account_ids.push(account_id);
        } else {
            batches.insert(status_id, out.len());
            out.push(Event::Favourites { status_id, account_ids: vec![account_id] });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_favourites_of_a_status_are_coalesced_in_place() {
        let fav = |account, status| Event::Favourited { account_id: Id(account), status_id: Id(status) };
        let post = Event::StatusCreated { status_id: Id(7), account_id: Id(1) };
        let coalesced = coalesce(vec![fav(1, 9), post.clone(), fav(2, 8), fav(3, 9), fav(4, 9)]);
        assert_eq!(
            coalesced,
            vec![
                Event::Favourites { status_id: Id(9), account_ids: vec![Id(1), Id(3), Id(4)] },
                post,
                Event::Favourites { status_id: Id(8), account_ids: vec![Id(2)] },
            ]
        );
        assert!(fav(1, 9).deferred() && !coalesced[1].deferred());
        let json = serde_json::to_value(&coalesced[2]).unwrap();
        assert_eq!(json, serde_json::json!({"type": "favourites", "status_id": "8", "account_ids": ["2"]}));
        assert_eq!(coalesced[2].routing_key(), "favourite.batch");
    }

    #[test]
    fn json_contract() {
        let event = Event::StatusCreated { status_id: Id(9), account_id: Id(2) };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json, serde_json::json!({"type": "status_created", "status_id": "9", "account_id": "2"}));
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
        assert_eq!(event.routing_key(), "status.created");
        // a follow made before `approved` existed reads as an unapproved one
        let follow: Event = serde_json::from_value(
            serde_json::json!({"type": "follow_created", "account_id": "1", "target_account_id": "2"}),
        )
        .unwrap();
        assert_eq!(
            follow,
            Event::FollowCreated { account_id: Id(1), target_account_id: Id(2), approved: false }
        );
        assert_eq!(
            serde_json::to_value(&follow).unwrap(),
            serde_json::json!({"type": "follow_created", "account_id": "1", "target_account_id": "2"})
        );
    }
}

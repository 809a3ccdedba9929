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
    /// `account_id` favourited `status_id`: notify its author.
    Favourited { account_id: Id, status_id: Id },
    /// `account_id` no longer follows `target_account_id`: remove the target's statuses.
    FollowRemoved { account_id: Id, target_account_id: Id },
    /// A status was deleted: take it out of every feed it was written to.
    StatusDeleted { status_id: Id, account_id: Id },
    /// `account_id` muted `target_account_id`: remove the target's statuses from its home.
    AccountMuted { account_id: Id, target_account_id: Id },
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
            Self::StatusDeleted { .. } => "status.deleted",
            Self::AccountMuted { .. } => "account.muted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

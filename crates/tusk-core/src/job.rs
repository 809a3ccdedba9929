//! Job payloads the workers send each other through RabbitMQ (the `{p}.deliver` queue).

use serde::{Deserialize, Serialize};

use crate::Id;

/// What a batch does to the feeds it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedAction {
    Insert,
    Remove,
}

/// One slice of a fan-out: one status into (or out of) up to `TUSK_FANOUT_BATCH` home feeds.
/// A plan job pages the author's followers and emits these; any worker may run any batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutBatch {
    pub action: FeedAction,
    pub status_id: Id,
    pub author_id: Id,
    /// The owners of the home feeds to write.
    pub feeds: Vec<Id>,
    /// Set when the status is a reblog of this original: a home feed that already shows the
    /// original (or a reblog of it) near its top does not get the reblog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reblog_of: Option<Id>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_contract() {
        let batch = FanoutBatch {
            action: FeedAction::Insert,
            status_id: Id(3),
            author_id: Id(1),
            feeds: vec![Id(7)],
            reblog_of: None,
        };
        let json = serde_json::to_value(&batch).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"action": "insert", "status_id": "3", "author_id": "1", "feeds": ["7"]})
        );
        assert_eq!(serde_json::from_value::<FanoutBatch>(json).unwrap(), batch);
    }
}

//! Streaming through Redis pub/sub: workers publish `update`/`delete` events on timeline
//! channels; every api replica subscribes for the streams its clients hold, so any replica
//! serves any stream. Messages carry ids only; the api renders the status for its client.

use futures_util::{Stream, StreamExt as _};
use redis::Cmd;
use serde::{Deserialize, Serialize};
use tusk_core::Id;

use crate::connection::Batch;
use crate::{Cache, Result};

/// A streaming timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeline {
    /// A user's home: what the fan-out writes into their feed.
    User(Id),
    Public,
    PublicLocal,
}

impl Timeline {
    fn channel_name(self) -> String {
        match self {
            Self::User(id) => id.to_string(),
            Self::Public => "public".to_owned(),
            Self::PublicLocal => "public:local".to_owned(),
        }
    }
}

/// What travels on a timeline channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StreamEvent {
    Update { status_id: Id },
    Delete { status_id: Id },
}

impl Cache {
    /// Adds a PUBLISH of `event` on each timeline to `batch`, so that an announcement travels in
    /// the same round trip as the feed write it announces.
    pub(crate) fn announce(
        &self,
        batch: &mut Batch,
        timelines: &[Timeline],
        event: &StreamEvent,
    ) -> Result<()> {
        let payload = serde_json::to_string(event)?;
        for timeline in timelines {
            batch.add_ignored(Cmd::publish(self.keys.timeline_channel(&timeline.channel_name()), &payload));
        }
        Ok(())
    }

    /// Subscribes to timelines; the stream ends when the Redis connection does.
    pub async fn subscribe(&self, timelines: &[Timeline]) -> Result<impl Stream<Item = StreamEvent> + use<>> {
        let mut pubsub = self.pubsub.get_async_pubsub().await?;
        for timeline in timelines {
            pubsub.subscribe(self.keys.timeline_channel(&timeline.channel_name())).await?;
        }
        Ok(pubsub.into_on_message().filter_map(|message| async move {
            let payload: String = message.get_payload().ok()?;
            serde_json::from_str(&payload).ok()
        }))
    }
}

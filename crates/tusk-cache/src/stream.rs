//! Streaming through Redis pub/sub: workers publish `update`/`delete` events on timeline
//! channels; every api replica subscribes for the streams its clients hold, so any replica
//! serves any stream. Messages carry ids only; the api renders the status for its client.

use std::time::Duration;

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
    Update {
        status_id: Id,
    },
    Delete {
        status_id: Id,
    },
    /// A notification for the user whose channel carries it.
    Notification {
        notification_id: Id,
    },
}

/// How often an open `user` stream renews its listener mark, and how long a mark lives: a
/// replica that dies leaves marks that run out within a minute.
const LISTENER_RENEW: Duration = Duration::from_secs(20);
const LISTENER_TTL_SECS: i64 = 60;

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Cache {
    /// Sends `batch` together with the announcements of `events` on `timelines`. The public
    /// timelines (and anything without a listener check) are announced in the same round trip;
    /// a user's timeline only when that user holds an open stream, which the same round trip
    /// asks `{p}streaming:listeners` about. A fan-out to users who are not streaming, the usual
    /// case, thus costs no PUBLISH at all; the few who are get theirs in a second round trip.
    pub(crate) async fn run_announcing(
        &self,
        mut batch: Batch,
        timelines: &[Timeline],
        events: &[StreamEvent],
    ) -> Result<()> {
        let payloads = events.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?;
        let publish = |batch: &mut Batch, timeline: Timeline| {
            let channel = self.keys.timeline_channel(&timeline.channel_name());
            for payload in &payloads {
                batch.add_ignored(Cmd::publish(&channel, payload));
            }
        };
        let users: Vec<Id> = timelines
            .iter()
            .filter_map(|timeline| match timeline {
                Timeline::User(id) => Some(*id),
                Timeline::Public | Timeline::PublicLocal => None,
            })
            .collect();
        for timeline in timelines.iter().filter(|t| !matches!(t, Timeline::User(_))) {
            publish(&mut batch, *timeline);
        }
        if users.is_empty() || payloads.is_empty() {
            return self.run(batch).await;
        }
        let mut ask = redis::cmd("ZMSCORE");
        ask.arg(self.keys.stream_listeners()).arg(users.iter().map(|id| id.0).collect::<Vec<_>>());
        batch.add(ask);
        let (marks,): (Vec<Option<f64>>,) = batch.run(&self.conn).await?;
        let now = unix_now() as f64;
        let mut announcements = Batch::default();
        for (user, mark) in users.iter().zip(marks) {
            if mark.is_some_and(|expires| expires > now) {
                publish(&mut announcements, Timeline::User(*user));
            }
        }
        self.run(announcements).await
    }

    /// Announces new notifications on their recipient's channel, if the recipient listens.
    pub async fn announce_notifications(&self, recipient: Id, notification_ids: &[Id]) -> Result<()> {
        let events: Vec<StreamEvent> =
            notification_ids.iter().map(|id| StreamEvent::Notification { notification_id: *id }).collect();
        self.run_announcing(Batch::default(), &[Timeline::User(recipient)], &events).await
    }

    /// Marks users as listening until [`LISTENER_TTL_SECS`] from now, and drops expired marks.
    async fn mark_listening(&self, users: &[Id]) -> Result<()> {
        if users.is_empty() {
            return Ok(());
        }
        let key = self.keys.stream_listeners();
        let now = unix_now();
        let marks: Vec<(i64, i64)> = users.iter().map(|id| (now + LISTENER_TTL_SECS, id.0)).collect();
        let mut batch = Batch::default();
        batch.add_ignored(Cmd::zadd_multiple(&key, &marks));
        batch.add_ignored(Cmd::zrembyscore(&key, "-inf", now));
        self.run(batch).await
    }

    /// Subscribes to timelines; the stream ends when the Redis connection does. While the stream
    /// is polled, the users whose timelines it carries are marked as listening (so fan-out
    /// announces to them); once it is dropped, the marks run out.
    pub async fn subscribe(&self, timelines: &[Timeline]) -> Result<impl Stream<Item = StreamEvent> + use<>> {
        let listeners: Vec<Id> = timelines
            .iter()
            .filter_map(|timeline| if let Timeline::User(id) = timeline { Some(*id) } else { None })
            .collect();
        let mut pubsub = self.pubsub.get_async_pubsub().await?;
        for timeline in timelines {
            pubsub.subscribe(self.keys.timeline_channel(&timeline.channel_name())).await?;
        }
        // marked only once subscribed, so a status announced to a marked user is never missed
        self.mark_listening(&listeners).await?;
        let messages = pubsub.into_on_message().filter_map(|message| async move {
            let payload: String = message.get_payload().ok()?;
            serde_json::from_str(&payload).ok()
        });
        let renew = tokio::time::interval_at(tokio::time::Instant::now() + LISTENER_RENEW, LISTENER_RENEW);
        let state = (Box::pin(messages), renew, self.clone(), listeners);
        Ok(futures_util::stream::unfold(state, |(mut messages, mut renew, cache, listeners)| async move {
            loop {
                tokio::select! {
                    event = messages.next() => {
                        return event.map(|event| (event, (messages, renew, cache, listeners)));
                    }
                    _ = renew.tick() => {
                        if let Err(error) = cache.mark_listening(&listeners).await {
                            tracing::warn!(%error, "stream listener mark not renewed");
                        }
                    }
                }
            }
        }))
    }
}

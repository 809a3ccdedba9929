//! Live events for the streaming API, from Redis pub/sub: any replica serves any stream.

use futures_util::Stream;
use tusk_cache::{StreamEvent, Timeline};

use crate::{Result, Service};

impl Service {
    /// The events of `timelines` from now on; for a user's own timeline, the user is marked as
    /// listening once subscribed, so that the fan-out announces its statuses.
    pub async fn subscribe(&self, timelines: &[Timeline]) -> Result<impl Stream<Item = StreamEvent> + use<>> {
        Ok(self.cache().subscribe(timelines).await?)
    }
}

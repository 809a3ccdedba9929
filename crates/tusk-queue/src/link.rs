use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection};
use tokio::sync::Mutex;

use crate::{QueueError, Result, TIMEOUT, Topology};

/// A connection and a channel opened on first use and again after any failure, with the
/// topology declared; shared by the publisher and the queue-depth sampler.
pub(crate) struct Link {
    url: String,
    name: String,
    pub(crate) topology: Topology,
    open: Mutex<Option<(Connection, Channel)>>,
}

impl Link {
    pub(crate) fn new(url: &str, name: &str, topology: Topology) -> Self {
        Self { url: url.to_owned(), name: name.to_owned(), topology, open: Mutex::new(None) }
    }

    /// The live channel (in confirm mode: the publisher needs it, it costs the others nothing).
    pub(crate) async fn channel(&self) -> Result<Channel> {
        let mut open = self.open.lock().await;
        if let Some((connection, channel)) = open.as_ref()
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        // connecting, opening the channel and declaring the topology together get one deadline
        let connect = async {
            let connection = crate::connect(&self.url, &self.name).await?;
            let channel = connection.create_channel().await?;
            channel.confirm_select(ConfirmSelectOptions::default()).await?;
            self.topology.declare(&channel).await?;
            Ok::<_, QueueError>((connection, channel))
        };
        let (connection, channel) =
            tokio::time::timeout(TIMEOUT, connect).await.map_err(|_| QueueError::Timeout(TIMEOUT))??;
        *open = Some((connection, channel.clone()));
        Ok(channel)
    }

    /// Drops a suspect link after a failure: the next use opens a fresh one.
    pub(crate) async fn reset(&self) {
        *self.open.lock().await = None;
    }
}

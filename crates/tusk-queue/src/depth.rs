use tusk_telemetry::Metrics;

use crate::link::Link;
use crate::{QueueError, Result, TIMEOUT, Topology};

/// Samples how many messages wait in the work and parked queues, for
/// `tusk_queue_messages_ready` (through passive declares: needs no management plugin).
pub struct QueueDepth {
    link: Link,
    queues: Vec<String>,
    metrics: Metrics,
}

impl std::fmt::Debug for QueueDepth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueDepth").field("queues", &self.queues).finish_non_exhaustive()
    }
}

impl QueueDepth {
    pub fn new(url: &str, name: &str, topology: Topology, metrics: Metrics) -> Self {
        let queues = topology
            .work_queues()
            .iter()
            .flat_map(|q| [(*q).to_owned(), Topology::parked_queue(q)])
            .collect();
        Self { link: Link::new(url, name, topology), queues, metrics }
    }

    /// Takes one sample of every queue; a queue that does not answer keeps its last value.
    pub async fn sample(&self) {
        for queue in &self.queues {
            match self.messages_ready(queue).await {
                Ok(ready) => {
                    self.metrics
                        .queue_messages_ready
                        .with_label_values(&[queue.as_str()])
                        .set(i64::from(ready));
                }
                Err(error) => {
                    tracing::warn!(%error, queue, "queue depth not sampled");
                    // the link is suspect, and the other queues would wait on it too
                    self.link.reset().await;
                    return;
                }
            }
        }
    }

    async fn messages_ready(&self, queue: &str) -> Result<u32> {
        let sample = async { Topology::messages_ready(&self.link.channel().await?, queue).await };
        tokio::time::timeout(TIMEOUT, sample).await.unwrap_or(Err(QueueError::Timeout(TIMEOUT)))
    }
}

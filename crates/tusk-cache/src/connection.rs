use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// Every Redis call gives up after this long, so a stalled Redis turns into an error, not a hang.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One Redis or a Redis Cluster behind one type, so that the code above never cares which.
/// Both variants reconnect by themselves and are cheap to clone (multiplexed).
#[derive(Clone)]
pub enum RedisConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisConnection {
    /// A comma-separated list of URLs means a cluster; one URL, a single server (lazily
    /// connected, so the process starts while Redis is down and `/readyz` tells).
    pub async fn open(url: &str) -> redis::RedisResult<Self> {
        let nodes: Vec<&str> = url.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        if nodes.len() > 1 {
            let client = ClusterClient::builder(nodes)
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .build()?;
            Ok(Self::Cluster(client.get_async_connection().await?))
        } else {
            let client = redis::Client::open(url)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT))
                .set_number_of_retries(2);
            Ok(Self::Single(ConnectionManager::new_lazy_with_config(client, config)?))
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// Commands sent together. On a single server they go as one pipeline; on a cluster, which
/// refuses a pipeline that spans hash slots, they are grouped by slot and the groups sent
/// concurrently. Replies come back in the order the commands were added.
#[derive(Default)]
pub(crate) struct Batch {
    commands: Vec<(Cmd, bool)>,
}

/// How many per-slot pipelines are in flight at once on a cluster.
const SLOT_CONCURRENCY: usize = 64;

impl Batch {
    /// A command whose reply the caller wants.
    pub fn add(&mut self, cmd: Cmd) -> &mut Self {
        self.commands.push((cmd, true));
        self
    }

    /// A command whose reply is dropped (writes).
    pub fn add_ignored(&mut self, cmd: Cmd) -> &mut Self {
        self.commands.push((cmd, false));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Sends the commands; the kept replies are decoded as one array into `T`.
    #[tracing::instrument(
        name = "redis pipeline",
        skip_all,
        fields(otel.kind = "client", db.system = "redis", db.operation.batch.size = self.commands.len())
    )]
    pub async fn run<T: redis::FromRedisValue>(self, conn: &RedisConnection) -> redis::RedisResult<T> {
        match conn {
            RedisConnection::Single(single) => {
                let mut pipe = redis::pipe();
                for (cmd, keep) in self.commands {
                    pipe.add_command(cmd);
                    if !keep {
                        pipe.ignore();
                    }
                }
                let mut single = single.clone();
                pipe.query_async(&mut single).await
            }
            RedisConnection::Cluster(cluster) => self.run_by_slot(cluster).await,
        }
    }

    async fn run_by_slot<T: redis::FromRedisValue>(
        self,
        cluster: &ClusterConnection,
    ) -> redis::RedisResult<T> {
        use futures_util::StreamExt as _;
        let mut by_slot: std::collections::BTreeMap<u16, Vec<usize>> = std::collections::BTreeMap::new();
        for (index, (cmd, _)) in self.commands.iter().enumerate() {
            by_slot.entry(key_slot(cmd)).or_default().push(index);
        }
        let commands = &self.commands;
        let groups = futures_util::stream::iter(by_slot.into_values().map(|indices| {
            let mut conn = cluster.clone();
            async move {
                let mut pipe = redis::pipe();
                for index in &indices {
                    pipe.add_command(commands[*index].0.clone());
                }
                let replies: Vec<Value> = pipe.query_async(&mut conn).await?;
                Ok::<_, redis::RedisError>(indices.into_iter().zip(replies))
            }
        }))
        .buffer_unordered(SLOT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
        let mut replies: Vec<Option<Value>> = vec![None; self.commands.len()];
        for group in groups {
            for (index, reply) in group? {
                replies[index] = Some(reply);
            }
        }
        let kept: Vec<Value> = replies
            .into_iter()
            .zip(&self.commands)
            .filter(|(_, (_, keep))| *keep)
            .map(|(reply, _)| reply.unwrap_or(Value::Nil))
            .collect();
        Ok(T::from_redis_value(Value::Array(kept))?)
    }
}

/// The cluster hash slot of a command's key (its first argument), as Redis computes it:
/// CRC16 (XMODEM) of the key, or of its `{hash tag}`, modulo 16384.
fn key_slot(cmd: &Cmd) -> u16 {
    let key = cmd
        .args_iter()
        .nth(1)
        .and_then(|arg| match arg {
            redis::Arg::Simple(bytes) => Some(bytes),
            _ => None,
        })
        .unwrap_or_default();
    let tagged = key
        .iter()
        .position(|b| *b == b'{')
        .and_then(|open| key[open + 1..].iter().position(|b| *b == b'}').map(|len| (open, len)))
        .filter(|(_, len)| *len > 0)
        .map_or(key, |(open, len)| &key[open + 1..open + 1 + len]);
    crc16(tagged) % 16384
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in bytes {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 { crc << 1 } else { (crc << 1) ^ 0x1021 };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // values from `CLUSTER KEYSLOT`
        assert_eq!(key_slot(redis::cmd("GET").arg("foo")), 12182);
        assert_eq!(key_slot(redis::cmd("GET").arg("bar")), 5061);
        assert_eq!(
            key_slot(redis::cmd("GET").arg("{user1000}.following")),
            key_slot(redis::cmd("GET").arg("user1000"))
        );
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }
}

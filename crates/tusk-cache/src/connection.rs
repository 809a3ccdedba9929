use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo as _, Pipeline, ProtocolVersion, RedisFuture, Value};

use crate::near::{near, near_cache_config};

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
                .use_protocol(ProtocolVersion::RESP3)
                .cache_config(near_cache_config())
                .build()?;
            Ok(Self::Cluster(client.get_async_connection().await?))
        } else {
            let info = url.into_connection_info()?;
            let resp3 = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
            let client = redis::Client::open(info.set_redis_settings(resp3))?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT))
                .set_number_of_retries(2)
                .set_cache_config(near_cache_config());
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
    entries: Vec<Entry>,
}

enum Entry {
    /// A command, and whether its reply is kept.
    Command(Cmd, bool),
    /// `MGET` of these keys: one command on a single server, one `GET` per key on a cluster
    /// (the keys may be in different slots); either way its reply is one array. Entity reads
    /// only, so always through the near cache.
    Mget(Vec<String>),
}

/// How many per-slot pipelines are in flight at once on a cluster.
const SLOT_CONCURRENCY: usize = 64;

impl Batch {
    /// A command whose reply the caller wants.
    pub fn add(&mut self, cmd: Cmd) -> &mut Self {
        self.entries.push(Entry::Command(cmd, true));
        self
    }

    /// A command whose reply is dropped (writes).
    pub fn add_ignored(&mut self, cmd: Cmd) -> &mut Self {
        self.entries.push(Entry::Command(cmd, false));
        self
    }

    /// The values of `keys`, as one array reply (empty for no keys).
    pub fn add_mget(&mut self, keys: Vec<String>) -> &mut Self {
        self.entries.push(Entry::Mget(keys));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sends the commands; the kept replies are decoded as one array into `T`.
    #[tracing::instrument(
        name = "redis pipeline",
        skip_all,
        fields(otel.kind = "client", db.system = "redis", db.operation.batch.size = self.entries.len())
    )]
    pub async fn run<T: redis::FromRedisValue>(self, conn: &RedisConnection) -> redis::RedisResult<T> {
        match conn {
            RedisConnection::Single(single) => {
                let mut pipe = redis::pipe();
                // where the empty MGETs' replies go among the kept replies
                let (mut empty, mut kept) = (Vec::new(), 0);
                for entry in self.entries {
                    match entry {
                        Entry::Command(cmd, keep) => {
                            pipe.add_command(cmd);
                            if keep {
                                kept += 1;
                            } else {
                                pipe.ignore();
                            }
                        }
                        // an MGET of nothing is an error in Redis: answered here instead
                        Entry::Mget(keys) if keys.is_empty() => {
                            empty.push(kept);
                            kept += 1;
                        }
                        Entry::Mget(keys) => {
                            pipe.add_command(near(redis::cmd("MGET").arg(keys).to_owned()));
                            kept += 1;
                        }
                    }
                }
                let mut single = single.clone();
                let mut replies: Vec<Value> =
                    if pipe.is_empty() { Vec::new() } else { pipe.query_async(&mut single).await? };
                for position in empty {
                    replies.insert(position, Value::Array(Vec::new()));
                }
                Ok(T::from_redis_value(Value::Array(replies))?)
            }
            RedisConnection::Cluster(cluster) => self.run_by_slot(cluster).await,
        }
    }

    async fn run_by_slot<T: redis::FromRedisValue>(
        self,
        cluster: &ClusterConnection,
    ) -> redis::RedisResult<T> {
        use futures_util::StreamExt as _;
        // every entry as single-key commands, each with the entry it belongs to
        let mut commands: Vec<(usize, Cmd)> = Vec::new();
        for (index, entry) in self.entries.iter().enumerate() {
            match entry {
                Entry::Command(cmd, _) => commands.push((index, cmd.clone())),
                Entry::Mget(keys) => {
                    commands.extend(keys.iter().map(|key| (index, near(Cmd::get(key)))));
                }
            }
        }
        let mut by_slot: std::collections::BTreeMap<u16, Vec<usize>> = std::collections::BTreeMap::new();
        for (position, (_, cmd)) in commands.iter().enumerate() {
            by_slot.entry(key_slot(cmd)).or_default().push(position);
        }
        let commands = &commands;
        let groups = futures_util::stream::iter(by_slot.into_values().map(|positions| {
            let mut conn = cluster.clone();
            async move {
                let mut pipe = redis::pipe();
                for position in &positions {
                    pipe.add_command(commands[*position].1.clone());
                }
                let replies: Vec<Value> = pipe.query_async(&mut conn).await?;
                Ok::<_, redis::RedisError>(positions.into_iter().zip(replies))
            }
        }))
        .buffer_unordered(SLOT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
        let mut replies: Vec<Option<Value>> = vec![None; commands.len()];
        for group in groups {
            for (position, reply) in group? {
                replies[position] = Some(reply);
            }
        }
        // back into one reply per kept entry, an MGET's as one array
        let mut kept: Vec<Value> = Vec::with_capacity(self.entries.len());
        let mut replies = commands.iter().map(|(index, _)| *index).zip(replies).peekable();
        for (index, entry) in self.entries.iter().enumerate() {
            let mut own = std::iter::from_fn(|| replies.next_if(|(owner, _)| *owner == index))
                .map(|(_, reply)| reply.unwrap_or(Value::Nil));
            match entry {
                Entry::Command(_, true) => kept.push(own.next().unwrap_or(Value::Nil)),
                Entry::Command(_, false) => own.for_each(drop),
                Entry::Mget(_) => kept.push(Value::Array(own.collect())),
            }
        }
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
    slot_of(key)
}

/// The cluster hash slot of `key`.
fn slot_of(key: &[u8]) -> u16 {
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

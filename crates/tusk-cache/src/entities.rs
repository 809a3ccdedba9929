//! A read-through cache of rows as JSON: `{prefix}{kind}:{id}` with a TTL. Reads are one MGET
//! (one per hash slot on a Redis Cluster, which refuses an MGET across slots).

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tusk_core::Id;

use redis::Cmd;

use crate::connection::Batch;
use crate::{Cache, Result};

/// What is cached and for how long. Statuses barely change; accounts carry counts and are
/// dropped on every change that moves one (and on profile changes), so their TTL only bounds
/// what a read racing such a change can put back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityKind {
    Status,
    Account,
    /// A status's counts (replies, reblogs, favourites), dropped on every write that moves one.
    /// A read racing such a write can put back the counts from before it: they live at most
    /// ten minutes.
    StatusCounts,
}

impl EntityKind {
    fn name(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Account => "account",
            Self::StatusCounts => "status_counts",
        }
    }

    /// The TTL of the entry of `id`: the kind's, plus up to an eighth more, spread by id, so
    /// that entries cached together (a busy page, a warm-up) do not all expire together and
    /// send their readers to PostgreSQL at once.
    fn ttl_secs(self, id: Id) -> u64 {
        let base = self.ttl().as_secs();
        base + id.0.unsigned_abs() % (base / 8 + 1)
    }

    fn ttl(self) -> Duration {
        match self {
            Self::Status => Duration::from_hours(24),
            Self::Account | Self::StatusCounts => Duration::from_mins(10),
        }
    }
}

impl Cache {
    /// The cached entries for `ids`, `None` where missing (or unreadable after an upgrade).
    pub async fn get_entities<T: DeserializeOwned>(
        &self,
        kind: EntityKind,
        ids: &[Id],
    ) -> Result<Vec<Option<T>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut batch = Batch::default();
        batch.add_mget(self.entity_keys(kind, ids));
        let (raw,): (Vec<Option<String>>,) = batch.run(&self.conn).await?;
        Ok(decode_entities(raw))
    }

    pub(crate) fn entity_keys(&self, kind: EntityKind, ids: &[Id]) -> Vec<String> {
        ids.iter().map(|id| self.keys.entity(kind.name(), *id)).collect()
    }

    pub async fn put_entities<T: Serialize>(&self, kind: EntityKind, entries: &[(Id, &T)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::default();
        for (id, entry) in entries {
            batch.add_ignored(Cmd::set_ex(
                self.keys.entity(kind.name(), *id),
                serde_json::to_string(entry)?,
                kind.ttl_secs(*id),
            ));
        }
        self.run(batch).await
    }

    pub async fn invalidate_entities(&self, kind: EntityKind, ids: &[Id]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::default();
        for id in ids {
            batch.add_ignored(Cmd::del(self.keys.entity(kind.name(), *id)));
        }
        self.run(batch).await
    }
}

/// Cached entries as read, `None` where missing (or unreadable after an upgrade).
pub fn decode_entities<T: DeserializeOwned>(raw: Vec<Option<String>>) -> Vec<Option<T>> {
    raw.into_iter().map(|json| json.and_then(|j| serde_json::from_str(&j).ok())).collect()
}

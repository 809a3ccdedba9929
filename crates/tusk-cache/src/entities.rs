//! A read-through cache of rows as JSON: `{prefix}{kind}:{id}` with a TTL. Reads are pipelined
//! GETs rather than MGET, which a Redis Cluster refuses across slots.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tusk_core::Id;

use redis::Cmd;

use crate::connection::Batch;
use crate::{Cache, Result};

/// What is cached and for how long. Statuses barely change; accounts carry counts, so they
/// live briefly and are dropped on every change that moves a count.
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

    fn ttl(self) -> Duration {
        match self {
            Self::Status => Duration::from_hours(24),
            Self::Account => Duration::from_mins(1),
            Self::StatusCounts => Duration::from_mins(10),
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
        for id in ids {
            batch.add(Cmd::get(self.keys.entity(kind.name(), *id)));
        }
        let raw: Vec<Option<String>> = batch.run(&self.conn).await?;
        Ok(raw.into_iter().map(|json| json.and_then(|j| serde_json::from_str(&j).ok())).collect())
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
                kind.ttl().as_secs(),
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

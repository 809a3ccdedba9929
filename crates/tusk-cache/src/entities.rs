//! A read-through cache of rows as JSON: `{prefix}{kind}:{id}` with a TTL. Reads are one MGET
//! (one per hash slot on a Redis Cluster, which refuses an MGET across slots).

use std::sync::Arc;
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

/// Decodes cached entries as [`decode_entities`] does, keeping each row with the bytes it was
/// decoded from: a warm home page reads the same statuses and authors again and again, and
/// decoding them (times included) was 4 % of the api's CPU in `tusk-surge bench home`.
/// A kept row is reused only for the same bytes, so it is never stale; the rows kept are
/// bounded in number and evicted by use.
pub struct Decoder<T> {
    kept: quick_cache::sync::Cache<Id, Arc<(String, Arc<T>)>>,
}

impl<T: DeserializeOwned> Decoder<T> {
    /// Keeps up to `capacity` rows.
    pub fn new(capacity: usize) -> Self {
        Self { kept: quick_cache::sync::Cache::new(capacity) }
    }

    /// The entries `raw` of `ids` (the slots of one read), decoded.
    pub fn decode(&self, ids: &[Id], raw: Vec<Option<String>>) -> Vec<Option<Arc<T>>> {
        ids.iter()
            .zip(raw)
            .map(|(id, json)| {
                let json = json?;
                if let Some(kept) = self.kept.get(id).filter(|kept| kept.0 == json) {
                    return Some(Arc::clone(&kept.1));
                }
                let row = Arc::new(serde_json::from_str::<T>(&json).ok()?);
                self.kept.insert(*id, Arc::new((json, Arc::clone(&row))));
                Some(row)
            })
            .collect()
    }
}

#[cfg(test)]
mod decoder_tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Row {
        n: i64,
    }

    #[test]
    fn a_row_is_decoded_once_per_entry_and_again_when_the_entry_changes() {
        let decoder = Decoder::<Row>::new(10);
        let ids = [Id(1), Id(2), Id(3)];
        let read = |a: &str| vec![Some(a.to_owned()), None, Some("not json".to_owned())];
        let first = decoder.decode(&ids, read(r#"{"n":1}"#));
        assert_eq!(first[0].as_deref(), Some(&Row { n: 1 }));
        assert!(first[1].is_none() && first[2].is_none(), "missing and unreadable entries are None");

        let again = decoder.decode(&ids, read(r#"{"n":1}"#));
        assert!(Arc::ptr_eq(first[0].as_ref().unwrap(), again[0].as_ref().unwrap()), "decoded once");

        let changed = decoder.decode(&ids, read(r#"{"n":2}"#));
        assert_eq!(changed[0].as_deref(), Some(&Row { n: 2 }), "new bytes, a new row");
    }
}

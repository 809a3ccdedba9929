//! The entity cache: statuses, accounts and status counts from Redis, PostgreSQL behind it.

use std::sync::Arc;

use tusk_cache::{EntityKind, Lookup};
use tusk_core::Id;
use tusk_store::{AccountRow, StatusRow};

use crate::{Result, Service, ServiceError};

impl Service {
    /// The statuses among `ids` that exist, in no particular order.
    pub async fn load_statuses(&self, ids: &[Id]) -> Result<Vec<StatusRow>> {
        let cached = self.cached_slots(EntityKind::Status, ids).await;
        self.fill_statuses(ids, cached).await
    }

    /// The accounts among `ids` that exist, in no particular order.
    pub async fn load_accounts(&self, ids: &[Id]) -> Result<Vec<AccountRow>> {
        let cached = self.cached_slots(EntityKind::Account, ids).await;
        self.fill_accounts(ids, cached).await
    }

    /// `cached` (the cache's slots for `ids`) completed from PostgreSQL.
    pub(crate) async fn fill_statuses(
        &self,
        ids: &[Id],
        cached: Vec<Option<StatusRow>>,
    ) -> Result<Vec<StatusRow>> {
        self.fill(
            EntityKind::Status,
            ids,
            cached,
            |missing| async move { self.store().statuses(&missing).await },
            |s| s.id,
        )
        .await
    }

    pub(crate) async fn fill_accounts(
        &self,
        ids: &[Id],
        cached: Vec<Option<AccountRow>>,
    ) -> Result<Vec<AccountRow>> {
        self.fill(
            EntityKind::Account,
            ids,
            cached,
            |missing| async move { self.store().accounts(&missing).await },
            |a| a.id,
        )
        .await
    }

    /// [`Service::fill_statuses`] for rows shared with the decoder's (a page's).
    pub(crate) async fn fill_shared_statuses(
        &self,
        ids: &[Id],
        cached: Vec<Option<Arc<StatusRow>>>,
    ) -> Result<Vec<Arc<StatusRow>>> {
        let fetch = |missing: Vec<Id>| async move {
            Ok(self.store().statuses(&missing).await?.into_iter().map(Arc::new).collect())
        };
        self.fill(EntityKind::Status, ids, cached, fetch, |s| s.id).await
    }

    /// [`Service::fill_accounts`] for rows shared with the decoder's (a page's).
    pub(crate) async fn fill_shared_accounts(
        &self,
        ids: &[Id],
        cached: Vec<Option<Arc<AccountRow>>>,
    ) -> Result<Vec<Arc<AccountRow>>> {
        let fetch = |missing: Vec<Id>| async move {
            Ok(self.store().accounts(&missing).await?.into_iter().map(Arc::new).collect())
        };
        self.fill(EntityKind::Account, ids, cached, fetch, |a| a.id).await
    }

    pub async fn load_account(&self, id: Id) -> Result<AccountRow> {
        self.load_accounts(&[id]).await?.pop().ok_or(ServiceError::NotFound)
    }

    /// Caches a row just written, for the next reader.
    pub async fn remember_status(&self, status: &StatusRow) {
        if let Err(error) = self.cache().put_entities(EntityKind::Status, &[(status.id, status)]).await {
            tracing::warn!(%error, "status not cached");
        }
    }

    /// Drops cached entries that a write just made stale; they expire anyway, so a Redis
    /// failure here costs staleness, not the request.
    pub async fn forget(&self, kind: EntityKind, ids: &[Id]) {
        if let Err(error) = self.cache().invalidate_entities(kind, ids).await {
            tracing::warn!(%error, ?kind, "stale entry left in cache until its TTL");
        }
    }

    /// The entries the cache had (`cached`, the slots of `ids`) and what is missing from
    /// PostgreSQL, cached for the next reader.
    async fn fill<T, F, Fut>(
        &self,
        kind: EntityKind,
        ids: &[Id],
        cached: Vec<Option<T>>,
        fetch: F,
        id_of: fn(&T) -> Id,
    ) -> Result<Vec<T>>
    where
        T: serde::Serialize,
        F: FnOnce(Vec<Id>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, tusk_store::StoreError>>,
    {
        let missing: Vec<Id> =
            ids.iter().zip(&cached).filter(|(_, c)| c.is_none()).map(|(id, _)| *id).collect();
        let mut found: Vec<T> = cached.into_iter().flatten().collect();
        if !missing.is_empty() {
            let fetched = fetch(missing).await?;
            let entries: Vec<(Id, &T)> = fetched.iter().map(|row| (id_of(row), row)).collect();
            self.cache_rows(kind, &entries).await;
            found.extend(fetched);
        }
        Ok(found)
    }

    /// The cached entries of each `(kind, ids)` (raw) and `reader`'s interactions with its
    /// statuses, in one round trip; nothing found (so PostgreSQL is asked) if Redis fails.
    pub(crate) async fn lookup(
        &self,
        entities: &[(EntityKind, &[Id])],
        reader: Option<(Id, &[Id])>,
    ) -> Lookup {
        match self.cache().lookup(entities, reader).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, "entity cache unreadable, reading PostgreSQL");
                Lookup {
                    entities: entities.iter().map(|(_, ids)| vec![None; ids.len()]).collect(),
                    interactions: reader.map(|(_, statuses)| Some(vec![None; statuses.len()])),
                }
            }
        }
    }

    /// The cached entry of each of `ids`, in order, `None` where missing (everywhere if Redis
    /// fails: the caller reads PostgreSQL).
    pub(crate) async fn cached_slots<T: serde::de::DeserializeOwned>(
        &self,
        kind: EntityKind,
        ids: &[Id],
    ) -> Vec<Option<T>> {
        match self.cache().get_entities::<T>(kind, ids).await {
            Ok(cached) => cached,
            Err(error) => {
                tracing::warn!(%error, ?kind, "entity cache unreadable, reading PostgreSQL");
                ids.iter().map(|_| None).collect()
            }
        }
    }

    pub(crate) async fn cache_rows<T: serde::Serialize>(&self, kind: EntityKind, entries: &[(Id, &T)]) {
        if let Err(error) = self.cache().put_entities(kind, entries).await {
            tracing::warn!(%error, ?kind, "entities not cached");
        }
    }
}

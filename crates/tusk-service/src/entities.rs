//! The entity cache: statuses, accounts and status counts from Redis, PostgreSQL behind it.

use tusk_cache::EntityKind;
use tusk_core::Id;
use tusk_store::{AccountRow, StatusRow};

use crate::{Result, Service, ServiceError};

impl Service {
    /// The statuses among `ids` that exist, in no particular order.
    pub async fn load_statuses(&self, ids: &[Id]) -> Result<Vec<StatusRow>> {
        self.read_through(
            EntityKind::Status,
            ids,
            |missing| async move { self.store().statuses(&missing).await },
            |s| s.id,
        )
        .await
    }

    /// The accounts among `ids` that exist, in no particular order.
    pub async fn load_accounts(&self, ids: &[Id]) -> Result<Vec<AccountRow>> {
        self.read_through(
            EntityKind::Account,
            ids,
            |missing| async move { self.store().accounts(&missing).await },
            |a| a.id,
        )
        .await
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

    /// Cache first; what is missing comes from PostgreSQL and is cached for the next reader.
    /// A Redis failure degrades to PostgreSQL instead of failing the read.
    pub(crate) async fn read_through<T, F, Fut>(
        &self,
        kind: EntityKind,
        ids: &[Id],
        fetch: F,
        id_of: fn(&T) -> Id,
    ) -> Result<Vec<T>>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce(Vec<Id>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, tusk_store::StoreError>>,
    {
        let (mut found, missing) = self.cached(kind, ids).await;
        if !missing.is_empty() {
            let fetched = fetch(missing).await?;
            let entries: Vec<(Id, &T)> = fetched.iter().map(|row| (id_of(row), row)).collect();
            self.cache_rows(kind, &entries).await;
            found.extend(fetched);
        }
        Ok(found)
    }

    /// The cached entries among `ids`, and the ids not cached (all of them if Redis fails).
    pub(crate) async fn cached<T: serde::de::DeserializeOwned>(
        &self,
        kind: EntityKind,
        ids: &[Id],
    ) -> (Vec<T>, Vec<Id>) {
        let cached = self.cached_slots::<T>(kind, ids).await;
        let missing = ids.iter().zip(&cached).filter(|(_, c)| c.is_none()).map(|(id, _)| *id).collect();
        (cached.into_iter().flatten().collect(), missing)
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

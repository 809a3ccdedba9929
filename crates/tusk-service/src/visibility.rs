//! Who may see a status, as Mastodon's `StatusPolicy#show?`: the author always; nobody the
//! author blocks; public and unlisted for anyone else, private for followers and the accounts
//! it mentions, direct for the accounts it mentions.

use std::collections::{HashMap, HashSet};

use tusk_core::{Id, Visibility};
use tusk_store::{Relationship, StatusRow};

use crate::{Result, Service, ServiceError};

/// Whether `viewer` sees `status`, given its relationship to the author (`None`: signed out;
/// the author itself is decided before).
fn shown(status: &StatusRow, viewer: Option<Id>, relationship: Option<&Relationship>) -> bool {
    if relationship.is_some_and(|r| r.blocked_by) {
        return false;
    }
    let mentioned = viewer.is_some_and(|viewer| status.mentions.iter().any(|m| m.id == viewer));
    match status.visibility() {
        Visibility::Public | Visibility::Unlisted => true,
        Visibility::Private => mentioned || relationship.is_some_and(|r| r.following),
        Visibility::Direct => mentioned,
    }
}

impl Service {
    /// Whether `viewer` may see `status`.
    pub async fn visible_to(&self, viewer: Option<Id>, status: &StatusRow) -> Result<bool> {
        let relationship = match viewer {
            Some(viewer) if viewer == status.account_id => return Ok(true),
            Some(viewer) => Some(self.store().relationship(viewer, status.account_id).await?),
            None => None,
        };
        Ok(shown(status, viewer, relationship.as_ref()))
    }

    /// The status `id` if `viewer` may see it; `NotFound` otherwise, so that a hidden status
    /// cannot be told from a missing one.
    pub async fn visible_status(&self, viewer: Option<Id>, id: Id) -> Result<StatusRow> {
        let status = self.load_statuses(&[id]).await?.pop().ok_or(ServiceError::NotFound)?;
        if self.visible_to(viewer, &status).await? { Ok(status) } else { Err(ServiceError::NotFound) }
    }

    /// The ids among `ids` that `viewer` may see, in their order: one relationship query for
    /// all their authors, none signed out.
    pub async fn visible_ids(&self, viewer: Option<Id>, ids: &[Id]) -> Result<Vec<Id>> {
        let statuses = self.load_statuses(ids).await?;
        let visible = self.visible_among(viewer, statuses.iter()).await?;
        Ok(ids.iter().filter(|id| visible.contains(id)).copied().collect())
    }

    /// The ids of the `statuses` (read already) that `viewer` may see: one relationship query
    /// for all their authors, none signed out.
    pub(crate) async fn visible_among<'a>(
        &self,
        viewer: Option<Id>,
        statuses: impl Iterator<Item = &'a StatusRow> + Clone,
    ) -> Result<HashSet<Id>> {
        let relationships: HashMap<Id, Relationship> = match viewer {
            Some(viewer) => {
                let mut authors: Vec<Id> =
                    statuses.clone().map(|s| s.account_id).filter(|a| *a != viewer).collect();
                authors.sort_unstable();
                authors.dedup();
                if authors.is_empty() {
                    HashMap::new()
                } else {
                    self.store().relationships(viewer, &authors).await?.into_iter().collect()
                }
            }
            None => HashMap::new(),
        };
        Ok(statuses
            .filter(|status| match viewer {
                Some(viewer) if viewer == status.account_id => true,
                // an author missing from the answer was deleted meanwhile: nothing to show
                Some(_) => {
                    relationships.get(&status.account_id).is_some_and(|r| shown(status, viewer, Some(r)))
                }
                None => shown(status, None, None),
            })
            .map(|status| status.id)
            .collect())
    }
}

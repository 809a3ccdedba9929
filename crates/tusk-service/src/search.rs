//! Search, as apps use it for @-autocomplete and `toot follow NAME`: accounts by prefix (the
//! ones the searcher follows first) and hashtags by prefix.

use tusk_core::Id;
use tusk_store::AccountRow;

use crate::{Result, Service};

/// What an account search looks for: `q` as apps send it (`name`, `@name`, `@name@domain`).
#[derive(Clone, Copy, Debug)]
pub struct AccountQuery<'a> {
    pub q: &'a str,
    /// This server's domain: `@name@domain` names a local account when it is this one.
    pub domain: &'a str,
    /// Only accounts the searcher follows.
    pub following: bool,
    pub limit: i64,
    pub offset: i64,
}

/// The username prefix of a query, or `None` when it names an account of another server
/// (federation comes later) or nothing at all.
fn username_prefix<'a>(q: &'a str, domain: &str) -> Option<&'a str> {
    tusk_core::instance::local_username(q, domain).filter(|name| !name.is_empty())
}

impl Service {
    /// Accounts matching `query` as `viewer` searches them, in the order found.
    pub async fn search_accounts(
        &self,
        viewer: Option<Id>,
        query: AccountQuery<'_>,
    ) -> Result<Vec<AccountRow>> {
        let Some(prefix) = username_prefix(query.q, query.domain) else { return Ok(Vec::new()) };
        let following = query.following && viewer.is_some();
        let ids = self.store().search_accounts(prefix, viewer, following, query.limit, query.offset).await?;
        let mut accounts = self.load_accounts(&ids).await?;
        accounts.sort_by_key(|a| ids.iter().position(|id| *id == a.id));
        Ok(accounts)
    }

    /// Hashtags starting with `q` (a leading `#` is no part of the name).
    pub async fn search_hashtags(&self, q: &str, limit: i64, offset: i64) -> Result<Vec<String>> {
        let name = q.trim().trim_start_matches('#');
        if name.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.store().search_tags(name, limit, offset).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_name_local_accounts() {
        assert_eq!(username_prefix("@ali", "tusk.test"), Some("ali"));
        assert_eq!(username_prefix(" alice@TUSK.test ", "tusk.test"), Some("alice"));
        assert_eq!(username_prefix("alice@elsewhere.example", "tusk.test"), None);
        assert_eq!(username_prefix("@", "tusk.test"), None);
    }
}

//! Search: accounts by the prefix of their username or display name (the accounts the searcher
//! follows first), hashtags by prefix. PostgreSQL's indexes serve both (see the migration);
//! full-text search of statuses comes with its own issue.

use tusk_core::Id;

use crate::{Result, Store};

/// `prefix` as a LIKE pattern matching what starts with it, its wildcards escaped.
fn starts_with(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    /// The ids of the accounts whose username or display name starts with `prefix`
    /// (case-insensitively): those `viewer` follows first, then the others; an exact username
    /// first within each, then by username.
    #[tracing::instrument(name = "pg search_accounts", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn search_accounts(
        &self,
        prefix: &str,
        viewer: Option<Id>,
        following_only: bool,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Id>> {
        let matching = "(lower(a.username) LIKE $1 OR lower(a.display_name) LIKE $1)";
        let ids = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM ( \
               (SELECT a.id, a.username, 0 AS followed FROM follows f JOIN accounts a ON a.id = f.target_account_id \
                WHERE f.account_id = $2 AND {matching}) \
               UNION ALL \
               (SELECT a.id, a.username, 1 FROM accounts a \
                WHERE {matching} AND NOT $5 \
                  AND NOT EXISTS (SELECT 1 FROM follows f WHERE f.account_id = $2 AND f.target_account_id = a.id) \
                ORDER BY lower(a.username) = $6 DESC, lower(a.username) LIMIT $3 + $4) \
             ) found \
             ORDER BY followed, lower(username) = $6 DESC, lower(username) LIMIT $3 OFFSET $4"
        )))
        .bind(starts_with(prefix))
        .bind(viewer)
        .bind(limit)
        .bind(offset)
        .bind(following_only)
        .bind(prefix.to_lowercase())
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }

    /// Hashtags starting with `prefix`, the most used first.
    #[tracing::instrument(name = "pg search_tags", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn search_tags(&self, prefix: &str, limit: i64, offset: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT t.name FROM tags t WHERE lower(t.name) LIKE $1 \
             ORDER BY (SELECT count(*) FROM statuses_tags st WHERE st.tag_id = t.id) DESC, lower(t.name) \
             LIMIT $2 OFFSET $3",
        )
        .bind(starts_with(prefix))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_escape_like_wildcards() {
        assert_eq!(starts_with("Al_i%"), "al\\_i\\%%");
    }
}

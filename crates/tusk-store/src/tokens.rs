use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};
use tusk_core::Id;

use crate::{Result, Store};

/// A live token; cached in Redis under its hash (never the token) by the service.
#[derive(Clone, Debug, sqlx::FromRow, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: Id,
    pub application_id: Id,
    /// `None` for an app token (`client_credentials`).
    pub account_id: Option<Id>,
    pub scopes: String,
    pub created_at: DateTime<Utc>,
    /// The token's user signed up while approval was required and is not approved yet.
    #[sqlx(default)]
    pub pending: bool,
}

pub(crate) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    application_id: Id,
    account_id: Option<Id>,
    scopes: &str,
    token_hash: &[u8],
) -> Result<TokenRow> {
    Ok(sqlx::query_as(
        "INSERT INTO oauth_access_tokens (application_id, account_id, scopes, token_hash) \
         VALUES ($1, $2, $3, $4) RETURNING id, application_id, account_id, scopes, created_at",
    )
    .bind(application_id)
    .bind(account_id)
    .bind(scopes)
    .bind(token_hash)
    .fetch_one(&mut **tx)
    .await?)
}

impl Store {
    #[tracing::instrument(name = "pg create_token", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn create_token(
        &self,
        application_id: Id,
        account_id: Option<Id>,
        scopes: &str,
        token_hash: &[u8],
    ) -> Result<TokenRow> {
        let mut tx = self.pool.begin().await?;
        let token = insert(&mut tx, application_id, account_id, scopes, token_hash).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The live token with this hash, if any.
    #[tracing::instrument(name = "pg token_by_hash", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn token_by_hash(&self, token_hash: &[u8]) -> Result<Option<TokenRow>> {
        Ok(sqlx::query_as(
            "SELECT t.id, t.application_id, t.account_id, t.scopes, t.created_at, \
                    EXISTS (SELECT 1 FROM users u WHERE u.account_id = t.account_id AND NOT u.approved) AS pending \
             FROM oauth_access_tokens t WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }
}

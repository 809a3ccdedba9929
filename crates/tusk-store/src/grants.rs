//! The `authorization_code` grant's codes, the browser sign-ins of the authorize page, and
//! token revocation.

use tusk_core::Id;

use crate::{Result, Store, TokenRow, tokens};

/// A code as the authorize page issues it; the code itself is stored only as a hash.
#[derive(Debug)]
pub struct NewGrant<'a> {
    pub code_hash: &'a [u8],
    pub application_id: Id,
    pub account_id: Id,
    pub redirect_uri: &'a str,
    pub scopes: &'a str,
    pub code_challenge: Option<&'a str>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct GrantRow {
    pub application_id: Id,
    pub account_id: Id,
    pub redirect_uri: String,
    pub scopes: String,
    pub code_challenge: Option<String>,
}

impl Store {
    #[tracing::instrument(name = "pg create_grant", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    /// Stores a code that lives 10 minutes (Doorkeeper's default, as in Mastodon).
    pub async fn create_grant(&self, new: &NewGrant<'_>) -> Result<()> {
        // expired codes go as new ones come, so the table stays small without a sweeper
        sqlx::query("DELETE FROM oauth_access_grants WHERE expires_at < now() - interval '1 hour'")
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_access_grants \
             (code_hash, application_id, account_id, redirect_uri, scopes, code_challenge, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, now() + interval '10 minutes')",
        )
        .bind(new.code_hash)
        .bind(new.application_id)
        .bind(new.account_id)
        .bind(new.redirect_uri)
        .bind(new.scopes)
        .bind(new.code_challenge)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Exchanges a code for a token in one transaction: the code is used up exactly when the
    /// token is created. `check` sees the unused, unexpired code and may refuse it (wrong client,
    /// redirect URI or PKCE verifier), in which case nothing is written. `None` when no such
    /// code is usable.
    #[tracing::instrument(name = "pg redeem_grant", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn redeem_grant<E>(
        &self,
        code_hash: &[u8],
        token_hash: &[u8],
        check: impl FnOnce(&GrantRow) -> std::result::Result<(), E>,
    ) -> Result<Option<std::result::Result<TokenRow, E>>> {
        let mut tx = self.pool.begin().await?;
        let grant: Option<GrantRow> = sqlx::query_as(
            "SELECT application_id, account_id, redirect_uri, scopes, code_challenge \
             FROM oauth_access_grants \
             WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now() FOR UPDATE",
        )
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(grant) = grant else { return Ok(None) };
        if let Err(refused) = check(&grant) {
            return Ok(Some(Err(refused)));
        }
        sqlx::query("UPDATE oauth_access_grants SET used_at = now() WHERE code_hash = $1")
            .bind(code_hash)
            .execute(&mut *tx)
            .await?;
        let token =
            tokens::insert(&mut tx, grant.application_id, Some(grant.account_id), &grant.scopes, token_hash)
                .await?;
        tx.commit().await?;
        Ok(Some(Ok(token)))
    }

    /// Revokes the live token with this hash if `application_id` issued it. `None` when there is
    /// no such live token, `Some(false)` when another app's.
    #[tracing::instrument(name = "pg revoke_token", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn revoke_token(&self, token_hash: &[u8], application_id: Id) -> Result<Option<bool>> {
        let owner: Option<Id> = sqlx::query_scalar(
            "SELECT application_id FROM oauth_access_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        match owner {
            None => Ok(None),
            Some(owner) if owner != application_id => Ok(Some(false)),
            Some(_) => {
                sqlx::query(
                    "UPDATE oauth_access_tokens SET revoked_at = now() \
                     WHERE token_hash = $1 AND revoked_at IS NULL",
                )
                .bind(token_hash)
                .execute(&self.pool)
                .await?;
                Ok(Some(true))
            }
        }
    }

    /// Records a browser sign-in on the authorize page, valid for `hours`.
    #[tracing::instrument(name = "pg create_browser_session", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn create_browser_session(&self, cookie_hash: &[u8], account_id: Id, hours: i32) -> Result<()> {
        sqlx::query("DELETE FROM oauth_browser_sessions WHERE expires_at < now()")
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_browser_sessions (cookie_hash, account_id, expires_at) \
             VALUES ($1, $2, now() + make_interval(hours => $3))",
        )
        .bind(cookie_hash)
        .bind(account_id)
        .bind(hours)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Who signed in with this cookie, while the sign-in lasts.
    #[tracing::instrument(name = "pg browser_session", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn browser_session(&self, cookie_hash: &[u8]) -> Result<Option<Id>> {
        Ok(sqlx::query_scalar(
            "SELECT account_id FROM oauth_browser_sessions WHERE cookie_hash = $1 AND expires_at > now()",
        )
        .bind(cookie_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The display name of an account, for the authorize page.
    #[tracing::instrument(name = "pg account_username", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
    pub async fn account_username(&self, account_id: Id) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT username FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?)
    }
}

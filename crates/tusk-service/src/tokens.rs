//! Access tokens, looked up on every authenticated request: cached in Redis under their digest,
//! so that a warm request asks PostgreSQL nothing to know its user.

use tusk_cache::TokenEntry;
use tusk_core::Id;
use tusk_store::TokenRow;

use crate::{Result, Service, ServiceError};

impl Service {
    /// The live token with this digest, if any. Tokens of users waiting for approval are not
    /// cached: their approval (`tusk accounts approve`) shows from the next request on.
    pub async fn token(&self, digest: &[u8]) -> Result<Option<TokenRow>> {
        match self.cache().token_entry::<TokenRow>(digest).await {
            Ok(TokenEntry::Live(row)) => return Ok(Some(row)),
            Ok(TokenEntry::Revoked) => return Ok(None),
            Ok(TokenEntry::Missing) => {}
            Err(error) => tracing::warn!(%error, "token cache unreadable, reading PostgreSQL"),
        }
        let row = self.store().token_by_hash(digest).await?;
        if let Some(live) = row.as_ref().filter(|row| !row.pending)
            && let Err(error) = self.cache().put_token(digest, live).await
        {
            tracing::warn!(%error, "token not cached");
        }
        Ok(row)
    }

    /// Revokes the token with this digest if `application_id` owns it (as
    /// `Store::revoke_token`), and marks it revoked in Redis, so that every replica refuses it
    /// from the next request. When Redis cannot take the mark, the revocation is `Unavailable`:
    /// the client retries, and the retry marks it (an unknown or revoked token is marked too).
    pub async fn revoke_token(&self, digest: &[u8], application_id: Id) -> Result<Option<bool>> {
        let revoked = self.store().revoke_token(digest, application_id).await?;
        if revoked != Some(false) {
            self.cache().revoke_token(digest).await.map_err(|error| {
                ServiceError::Unavailable(format!("revocation not marked in Redis: {error}"))
            })?;
        }
        Ok(revoked)
    }
}

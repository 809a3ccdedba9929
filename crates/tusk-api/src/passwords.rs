//! argon2id on a bounded blocking pool: at most N hashes at once, the rest wait their turn.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;
use tusk_core::Password;

use crate::ApiError;

/// The argon2id hasher every password goes through, with its parameters (the crate's defaults:
/// argon2id v19, 19 MiB, 2 passes, 1 lane); `tusk-surge bench signup` measures against it.
pub fn password_hasher() -> Argon2<'static> {
    Argon2::default()
}

pub(crate) struct PasswordHasher {
    permits: Semaphore,
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> Self {
        Self { permits: Semaphore::new(concurrency.max(1)) }
    }

    pub async fn hash(&self, password: Password) -> Result<String, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || {
            password_hasher()
                .hash_password(password.expose().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(ApiError::internal)
        })
        .await
        .map_err(ApiError::internal)?
    }

    /// Whether `password` matches the stored PHC string; a malformed hash never matches.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .is_ok_and(|parsed| password_hasher().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .map_err(ApiError::internal)
    }
}

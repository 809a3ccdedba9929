//! `Idempotency-Key` on `POST /api/v1/statuses`: a retry within the hour gets the original
//! status, whichever api replica it lands on (the key lives in Redis), and two requests racing
//! with one key cannot both create a status (the first claims the key with SET NX).

use std::fmt::Write as _;
use std::time::Duration;

use axum::http::HeaderMap;
use tusk_cache::IdempotencyClaim;
use tusk_core::Id;

use crate::entities::Status;
use crate::{ApiError, AppState};

/// How long a request waits for another one holding its key before answering 409.
const WAIT_FOR_PENDING: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(100);

/// The hex sha256 of the request's `Idempotency-Key`, if it sent a non-empty one.
pub fn key_digest(headers: &HeaderMap) -> Option<String> {
    let key = headers.get("idempotency-key")?.as_bytes();
    if key.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let digest = tusk_core::token::digest(&String::from_utf8_lossy(key));
    Some(digest.iter().fold(String::with_capacity(64), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    }))
}

impl AppState {
    /// Claims `key` for `account`: `None` when this request is the first and should create
    /// the status, the original status when an earlier request did. With Redis down the request
    /// goes ahead unprotected rather than failing.
    pub(crate) async fn claim_idempotency(&self, account: Id, key: &str) -> Result<Option<Status>, ApiError> {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_PENDING;
        loop {
            match self.cache.claim_idempotency(account, key).await {
                Ok(IdempotencyClaim::Claimed) => return Ok(None),
                Ok(IdempotencyClaim::Done(id)) => {
                    // Mastodon answers a retry whose status was deleted since with a 404
                    let status = self.load_statuses(&[id]).await?.pop().ok_or(ApiError::NotFound)?;
                    let author = self.load_account(status.account_id).await?;
                    return Ok(Some(Status::new(&self.instance, &status, &author)));
                }
                Ok(IdempotencyClaim::Pending) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(POLL).await;
                }
                Ok(IdempotencyClaim::Pending) => {
                    return Err(ApiError::Conflict(
                        "A request with this Idempotency-Key is still being processed".into(),
                    ));
                }
                Err(error) => {
                    tracing::warn!(%error, "Idempotency-Key not checked: Redis unavailable");
                    return Ok(None);
                }
            }
        }
    }

    /// Records the outcome of a claimed key: the new status, or nothing (the key is freed so
    /// that the client's retry is tried again).
    pub(crate) async fn settle_idempotency(&self, account: Id, key: &str, created: Option<Id>) {
        let result = match created {
            Some(status) => self.cache.complete_idempotency(account, key, status).await,
            None => self.cache.release_idempotency(account, key).await,
        };
        if let Err(error) = result {
            tracing::warn!(%error, "Idempotency-Key outcome not recorded");
        }
    }
}

//! `Idempotency-Key` on status creation, shared by every api replica: the first request with a
//! key claims it with a pending marker (SET NX), then stores the status id there for an hour;
//! a retry finds the id and gets the original status instead of a second one.

use std::time::Duration;

use tusk_core::Id;

use crate::{Cache, Result};

const PENDING: &str = "pending";
/// How long a claim may stay pending: a replica that died mid-request frees the key after this.
const PENDING_TTL: Duration = Duration::from_secs(30);
/// How long a key names its status, as in Mastodon.
const DONE_TTL: Duration = Duration::from_hours(1);

/// What a request finds under its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First with this key: go ahead, then [`Cache::complete_idempotency`] or release it.
    Claimed,
    /// Another request with this key is still creating its status.
    Pending,
    /// A request with this key created this status.
    Done(Id),
}

impl Cache {
    /// Claims `key` (a digest of the client's key) for `account`, or says who holds it.
    pub async fn claim_idempotency(&self, account: Id, key: &str) -> Result<IdempotencyClaim> {
        let name = self.keys.idempotency(account, key);
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(&name)
            .arg(PENDING)
            .arg("NX")
            .arg("EX")
            .arg(PENDING_TTL.as_secs())
            .query_async(&mut conn)
            .await?;
        if set.is_some() {
            return Ok(IdempotencyClaim::Claimed);
        }
        let held: Option<String> = redis::cmd("GET").arg(&name).query_async(&mut conn).await?;
        // expired between the two commands: treat as still pending, the caller retries
        Ok(match held.as_deref().and_then(|v| v.parse::<i64>().ok()) {
            Some(id) => IdempotencyClaim::Done(Id(id)),
            None => IdempotencyClaim::Pending,
        })
    }

    /// Records the status that the claim of `key` created.
    pub async fn complete_idempotency(&self, account: Id, key: &str, status: Id) -> Result<()> {
        let mut conn = self.conn.clone();
        let () = redis::cmd("SET")
            .arg(self.keys.idempotency(account, key))
            .arg(status.0)
            .arg("EX")
            .arg(DONE_TTL.as_secs())
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Gives up a claim whose request failed, so that a retry can try again.
    pub async fn release_idempotency(&self, account: Id, key: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 =
            redis::cmd("DEL").arg(self.keys.idempotency(account, key)).query_async(&mut conn).await?;
        Ok(())
    }
}

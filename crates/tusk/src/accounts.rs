//! `tusk accounts`: what an operator does to local accounts from a shell, as with Mastodon's
//! `tootctl accounts`. With `TUSK_REGISTRATIONS=approved`, new accounts wait for a moderator:
//! `tusk accounts approve --list` shows them and `tusk accounts approve USERNAME` lets one in.

use std::fmt::Write as _;

use anyhow::Context as _;
use tusk_store::{PendingUser, Store, StoreError};

/// What approving one account did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approval {
    /// The account waited and may now sign in; its existing tokens work from the next request.
    Approved,
    /// The account was approved already: nothing changed.
    AlreadyApproved,
}

/// Approves the local account named `username` (case-insensitively). Fails when there is none.
pub async fn approve(store: &Store, username: &str) -> anyhow::Result<Approval> {
    let username = username.trim().trim_start_matches('@');
    match store.approve_user(username).await {
        Ok(true) => Ok(Approval::Approved),
        Ok(false) => Ok(Approval::AlreadyApproved),
        Err(StoreError::NotFound) => anyhow::bail!("no local account named {username:?}"),
        Err(other) => Err(other).context("approving the account"),
    }
}

/// The accounts waiting for approval, oldest sign-up first.
pub async fn pending(store: &Store) -> anyhow::Result<Vec<PendingUser>> {
    store.pending_users().await.context("listing the accounts waiting for approval")
}

/// The `--list` table: one account a line, `username  email  signed up at`, tab-separated.
pub fn render_pending(users: &[PendingUser]) -> String {
    users.iter().fold(String::new(), |mut out, user| {
        let _ = writeln!(out, "{}\t{}\t{}", user.username, user.email, user.created_at.to_rfc3339());
        out
    })
}

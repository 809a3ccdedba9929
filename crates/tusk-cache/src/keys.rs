//! Key names are part of the operator contract (see the README). `{prefix}` defaults to `tusk:`.

use tusk_core::Id;

#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned() }
    }

    /// `{prefix}feed:home:{account_id}`: sorted set of status ids, score = id.
    pub fn home_feed(&self, account: Id) -> String {
        format!("{}feed:home:{account}", self.prefix)
    }

    /// `{prefix}feed:home:{account_id}:reblogs`: the reblogs in a home feed, member = reblog
    /// id, score = original id, so that a second reblog of an original near the top is skipped.
    pub fn home_reblogs(&self, account: Id) -> String {
        format!("{}feed:home:{account}:reblogs", self.prefix)
    }

    /// `{prefix}feed:account:{account_id}`: an author's own recent statuses, for hybrid reads.
    pub fn account_feed(&self, account: Id) -> String {
        format!("{}feed:account:{account}", self.prefix)
    }

    /// `{prefix}timeline:{name}`: the pub/sub channel of a streaming timeline (`{account_id}`,
    /// `public`, `public:local`), as Mastodon's streaming server names them.
    pub fn timeline_channel(&self, name: &str) -> String {
        format!("{}timeline:{name}", self.prefix)
    }

    /// `{prefix}streaming:listeners`: sorted set of the users holding an open `user` stream
    /// somewhere, score = when the mark expires (unix seconds). Fan-out announces a status on a
    /// user's channel only when the user is listening, as Mastodon checks `subscribed:timeline:*`.
    pub fn stream_listeners(&self) -> String {
        format!("{}streaming:listeners", self.prefix)
    }

    /// `{prefix}ratelimit:{limit}:{period}:{subject}:{window_end}`: a fixed-window request
    /// counter, expiring when its window ends; the period keeps a 5-minute and an hourly
    /// window ending at the same second apart.
    pub fn rate_limit(&self, limit: &str, period: u64, subject: &str, window_end: u64) -> String {
        format!("{}ratelimit:{limit}:{period}:{subject}:{window_end}", self.prefix)
    }

    /// `{prefix}token:{sha256 hex}`: a live access token's row as JSON, or `revoked`; keyed by
    /// the token's digest, never the token.
    pub fn token(&self, digest: &[u8]) -> String {
        use std::fmt::Write as _;
        let hex = digest.iter().fold(String::with_capacity(digest.len() * 2), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        });
        format!("{}token:{hex}", self.prefix)
    }

    /// `{prefix}hybrid:{account_id}`: the hybrid accounts the account follows (JSON ids).
    pub fn hybrid_followees(&self, account: Id) -> String {
        format!("{}hybrid:{account}", self.prefix)
    }

    /// `{prefix}hidden:{account_id}`: the accounts kept out of its home: muted or blocked by
    /// it, or blocking it (JSON ids).
    pub fn hidden_accounts(&self, account: Id) -> String {
        format!("{}hidden:{account}", self.prefix)
    }

    /// `{prefix}active:{account_id}`: set when the account's activity was last recorded,
    /// expiring an hour later.
    pub fn active_mark(&self, account: Id) -> String {
        format!("{}active:{account}", self.prefix)
    }

    /// `{prefix}acts:{account_id}`: what the account did lately with statuses, a hash of
    /// `f:{status_id}` (favourited) and `r:{status_id}` (reblogged), complete for status ids
    /// from its `h` field (the horizon) up.
    pub fn interactions(&self, account: Id) -> String {
        format!("{}acts:{account}", self.prefix)
    }

    /// `{prefix}{kind}:{id}`: a cached entity as JSON.
    pub fn entity(&self, kind: &str, id: Id) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }
}

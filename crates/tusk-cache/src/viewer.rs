//! What a signed-in reader's requests need on every call, so that a warm read asks PostgreSQL
//! nothing it already answered: the token, the accounts hidden from the reader's home, the
//! hybrid authors it pulls, and the hourly activity mark.

use std::time::Duration;

use redis::Cmd;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tusk_core::{Id, Interacted, PageRange};

use crate::connection::Batch;
use crate::feed::feed_page;
use crate::near::{near, near_for};
use crate::{Cache, Result};
use crate::{EntityKind, Feed};

/// How long a token's row is cached: a backstop, since a revocation replaces the entry at once.
const TOKEN_TTL: Duration = Duration::from_mins(5);
/// How long a replica uses a token's entry from its near cache at most: a revocation reaches
/// it at once through Redis's invalidation, save in the race `near::NEAR_CACHE_TTL` describes.
const TOKEN_NEAR_TTL: Duration = Duration::from_secs(10);
/// The value that replaces a revoked token's entry, for as long as a reader that read the row
/// before the revocation could still try to cache it.
const REVOKED: &str = "revoked";
/// Hybrid followees change when an author crosses the hybrid threshold (the workers' plan job),
/// which no reader's key can follow: a new hybrid author is pulled within this.
const HYBRID_TTL: Duration = Duration::from_mins(1);
/// Hidden accounts are dropped on every mute, block and unmute/unblock; the TTL bounds what a
/// read racing such a change can put back.
const HIDDEN_TTL: Duration = Duration::from_mins(10);
/// A reader's interactions are dropped on each of its favourites, reblogs, bookmarks and pins
/// (and their undoing);
/// the TTL bounds what a read racing one of those can put back.
const INTERACTIONS_TTL: Duration = Duration::from_mins(10);
/// Activity is recorded at most once per this per account.
const ACTIVE_MARK_TTL: Duration = Duration::from_hours(1);

/// A token's cache entry.
#[derive(Debug)]
pub enum TokenEntry<T> {
    /// Not cached: ask PostgreSQL.
    Missing,
    /// Revoked lately: invalid, without asking.
    Revoked,
    Live(T),
}

/// What one home read needs besides the other feeds, read in one round trip.
#[derive(Debug)]
pub struct HomeContext {
    /// The page of the reader's home feed; `None` when the feed is missing or incomplete.
    pub home_page: Option<Vec<Id>>,
    /// This read set the activity mark: the account's activity is due to be recorded.
    pub activity_due: bool,
    /// The hybrid accounts it follows, if cached.
    pub hybrid_followees: Option<Vec<Id>>,
    /// The accounts hidden from its home, if cached.
    pub hidden_accounts: Option<Vec<Id>>,
}

/// What a reader did with each of some statuses: `None` when nothing is cached, and `None` for
/// a status older than the cached horizon.
pub type Interactions = Option<Vec<Option<Interacted>>>;

/// What [`Cache::lookup`] found.
#[derive(Debug)]
pub struct Lookup {
    /// Per `(kind, ids)` asked, the raw entries.
    pub entities: Vec<Vec<Option<String>>>,
    /// The reader's interactions, when asked.
    pub interactions: Option<Interactions>,
}

/// The interactions in an `HMGET` reply of the horizon and the fields of `statuses`, one per
/// kind of [`Interacted::KINDS`] (`f:{id}`, `r:{id}`, …).
fn interactions_from(statuses: &[Id], fields: &[Option<i64>]) -> Interactions {
    let (Some(horizon), flags) = fields.split_first()? else { return None };
    Some(
        statuses
            .iter()
            .zip(flags.chunks_exact(Interacted::KINDS.len()))
            .map(|(id, flags)| {
                (id.0 >= *horizon)
                    .then(|| Interacted::from_flags(std::array::from_fn(|i| flags[i].is_some())))
            })
            .collect(),
    )
}

fn ids_from(json: Option<String>) -> Option<Vec<Id>> {
    json.and_then(|j| serde_json::from_str(&j).ok())
}

impl Cache {
    /// The cached entry of the token with this digest.
    pub async fn token_entry<T: DeserializeOwned>(&self, digest: &[u8]) -> Result<TokenEntry<T>> {
        let mut conn = self.conn.clone();
        let raw: Option<String> =
            near_for(Cmd::get(self.keys.token(digest)), TOKEN_NEAR_TTL).query_async(&mut conn).await?;
        Ok(match raw {
            None => TokenEntry::Missing,
            Some(raw) if raw == REVOKED => TokenEntry::Revoked,
            // unreadable after an upgrade: read it again
            Some(raw) => serde_json::from_str(&raw).map_or(TokenEntry::Missing, TokenEntry::Live),
        })
    }

    /// Caches a token's row, unless its entry exists (a revocation's mark stays).
    pub async fn put_token<T: Serialize>(&self, digest: &[u8], row: &T) -> Result<()> {
        let mut conn = self.conn.clone();
        // OK when set, nil when the entry was there
        let _: Option<String> = redis::cmd("SET")
            .arg(self.keys.token(digest))
            .arg(serde_json::to_string(row)?)
            .arg("NX")
            .arg("EX")
            .arg(TOKEN_TTL.as_secs())
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Marks the token revoked for every replica at once: the mark replaces any cached row, and
    /// a reader that read the row before the revocation cannot cache it over the mark.
    pub async fn revoke_token(&self, digest: &[u8]) -> Result<()> {
        let mut conn = self.conn.clone();
        let () =
            Cmd::set_ex(self.keys.token(digest), REVOKED, TOKEN_TTL.as_secs()).query_async(&mut conn).await?;
        Ok(())
    }

    /// Reads the page `range` of the account's home feed and its cached hybrid followees and
    /// hidden accounts, in one round trip or none (all of it is read through the near cache).
    /// Once an hour per replica it also sets the account's activity mark, if not set, and
    /// renews its home feed's TTL (the feed outlives the activity window by far).
    pub async fn home_context(&self, account: Id, range: &PageRange) -> Result<HomeContext> {
        let mut batch = Batch::default();
        self.add_feed_page(&mut batch, Feed::Home(account), range);
        batch.add(near(Cmd::get(self.keys.hybrid_followees(account))));
        batch.add(near(Cmd::get(self.keys.hidden_accounts(account))));
        let marking = self.marked.get(&account).is_none_or(|at| at.elapsed() >= ACTIVE_MARK_TTL);
        if marking {
            let mut mark = redis::cmd("SET");
            mark.arg(self.keys.active_mark(account))
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(ACTIVE_MARK_TTL.as_secs());
            batch.add(mark);
            batch.add_ignored(Cmd::expire(self.keys.home_feed(account), self.feed_ttl_secs()));
        }
        let mut replies: Vec<redis::Value> = batch.run(&self.conn).await?;
        // the mark's reply comes last: OK when this read set it, nil when it was set
        let set = if marking { replies.pop() } else { None };
        let (marker, members, hybrid, hidden): (_, _, Option<String>, Option<String>) =
            redis::FromRedisValue::from_redis_value(redis::Value::Array(replies))
                .map_err(redis::RedisError::from)?;
        if marking {
            self.marked.insert(account, std::time::Instant::now());
        }
        Ok(HomeContext {
            home_page: feed_page((marker, members), range),
            activity_due: set.is_some_and(|reply| reply != redis::Value::Nil),
            hybrid_followees: ids_from(hybrid),
            hidden_accounts: ids_from(hidden),
        })
    }

    /// The cached entries of each `(kind, ids)` of `entities` (raw, for
    /// [`crate::decode_entities`]) and, for `reader`, its interactions with the statuses given
    /// (as [`Cache::interactions`]), in one round trip.
    pub async fn lookup(
        &self,
        entities: &[(EntityKind, &[Id])],
        reader: Option<(Id, &[Id])>,
    ) -> Result<Lookup> {
        let mut batch = Batch::default();
        for (kind, ids) in entities {
            batch.add_mget(self.entity_keys(*kind, ids));
        }
        if let Some((account, statuses)) = reader {
            batch.add(self.interactions_cmd(account, statuses));
        }
        let mut replies: Vec<redis::Value> = batch.run(&self.conn).await?;
        let interactions = match reader {
            Some((_, statuses)) => {
                let reply = replies.pop().unwrap_or(redis::Value::Nil);
                let fields: Vec<Option<i64>> =
                    redis::FromRedisValue::from_redis_value(reply).map_err(redis::RedisError::from)?;
                Some(interactions_from(statuses, &fields))
            }
            None => None,
        };
        let entities = replies
            .into_iter()
            .map(redis::FromRedisValue::from_redis_value)
            .collect::<std::result::Result<_, _>>()
            .map_err(redis::RedisError::from)?;
        Ok(Lookup { entities, interactions })
    }

    pub async fn put_hybrid_followees(&self, account: Id, ids: &[Id]) -> Result<()> {
        self.put_ids(self.keys.hybrid_followees(account), ids, HYBRID_TTL).await
    }

    pub async fn put_hidden_accounts(&self, account: Id, ids: &[Id]) -> Result<()> {
        self.put_ids(self.keys.hidden_accounts(account), ids, HIDDEN_TTL).await
    }

    async fn put_ids(&self, key: String, ids: &[Id], ttl: Duration) -> Result<()> {
        let mut conn = self.conn.clone();
        let () = Cmd::set_ex(key, serde_json::to_string(ids)?, ttl.as_secs()).query_async(&mut conn).await?;
        Ok(())
    }

    /// The `HMGET` of what `account` did with `statuses` (decoded by [`interactions_from`]).
    fn interactions_cmd(&self, account: Id, statuses: &[Id]) -> Cmd {
        let mut hmget = redis::cmd("HMGET");
        hmget.arg(self.keys.interactions(account)).arg("h");
        for id in statuses {
            for kind in Interacted::KINDS {
                hmget.arg(format!("{kind}:{id}"));
            }
        }
        near(hmget)
    }

    /// Caches what `account` did with the statuses from `horizon` up, the statuses of each
    /// kind of [`Interacted::KINDS`] in `done`: one `HSET` (atomic, so a reader never sees half
    /// of it) and its TTL.
    pub async fn put_interactions(&self, account: Id, horizon: Id, done: [&[Id]; 4]) -> Result<()> {
        let key = self.keys.interactions(account);
        let mut hset = redis::cmd("HSET");
        hset.arg(&key).arg("h").arg(horizon.0);
        for (kind, ids) in Interacted::KINDS.iter().zip(done) {
            for id in ids {
                hset.arg(format!("{kind}:{id}")).arg(1);
            }
        }
        let mut batch = Batch::default();
        batch.add_ignored(hset);
        batch.add_ignored(Cmd::expire(&key, INTERACTIONS_TTL.as_secs() as i64));
        self.run(batch).await
    }

    /// Drops `account`'s cached interactions, after it favourited, reblogged, bookmarked or
    /// pinned (or undid it).
    pub async fn forget_interactions(&self, account: Id) -> Result<()> {
        let mut conn = self.conn.clone();
        let () = Cmd::del(self.keys.interactions(account)).query_async(&mut conn).await?;
        Ok(())
    }

    /// Drops what the accounts' relationships decide (hybrid followees, hidden accounts), after
    /// a follow, mute or block between them changed.
    pub async fn forget_relationships(&self, accounts: &[Id]) -> Result<()> {
        let mut batch = Batch::default();
        for account in accounts {
            batch.add_ignored(Cmd::del(self.keys.hybrid_followees(*account)));
            batch.add_ignored(Cmd::del(self.keys.hidden_accounts(*account)));
        }
        self.run(batch).await
    }
}

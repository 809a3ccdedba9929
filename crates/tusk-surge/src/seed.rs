//! `tusk-surge seed`: builds a realistic existing instance straight into PostgreSQL, then warms
//! Redis the way the running api would.
//!
//! The instance, for N accounts (account `g` = 1…N; everything is generated inside PostgreSQL
//! with `generate_series`, in chunks of 25,000 accounts, two chunks at a time):
//! - **accounts** created evenly over the last two years, oldest first; ids are snowflakes of
//!   the creation time, minted here so that they never meet the ids the api mints later;
//! - **users**, e-mail `user{g}@seed.example`, all with one placeholder password hash: a real
//!   argon2id hash (the api's parameters) of [`SEED_PASSWORD`], so password sign-in works;
//!   `last_active_at`: 35 % within the last 7 days (`--active-days`), 25 % 7–30 days ago, the
//!   rest 30–365 days ago (never before the account existed);
//! - **follows**: each account follows k others, k Pareto-distributed (x_min 3, α 1.4: median
//!   5, mean about 10, at most 5,000); each target is drawn with Zipf-like popularity
//!   (P(rank r) ∝ 1/r, r = floor(exp(U·ln(N+1)))), the oldest accounts the most popular — so a
//!   few accounts have tens of thousands of followers and most have a handful;
//! - **statuses**: c per account, c = floor(U^(-1/1.2)) − 1 (56 % post nothing, a few post
//!   hundreds; at most 200), dated in the 30 days before the user's last activity; 85 % public,
//!   10 % unlisted, 5 % private;
//! - `accounts.hybrid` set for accounts with more followers than `--hybrid-threshold`;
//! - `VACUUM ANALYZE`, as autovacuum would have by now.
//!
//! Redis: the home feeds of the `--warm-users` most recently active users, and the account
//! feeds of hybrid authors, computed with tusk-store's own queries (`home_timeline_ids` with the
//! api's bounds, `recent_status_ids_for_followers`) and stored as the api stores a rebuilt feed
//! (tusk-cache's `store_rebuilt_feed`: one pipeline of `ZADD` with the completeness marker `0`,
//! trim to 800, `EXPIRE` active days + 1). tusk-cache is not a dependency of tusk-surge, so
//! those three commands are written here; the README's operator contract fixes them.
//!
//! Tokens (scopes `read write follow`) for `--manifest-users` of the warmed users are stored
//! as Tusk stores them (SHA-256) and written in clear to the manifest.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use argon2::password_hash::PasswordHasher as _;
use clap::Args;
use futures_util::{StreamExt as _, TryStreamExt as _};
use tusk_core::{HOME_FEED_MAX_ITEMS, Id, token};
use tusk_store::{NewApp, Store};

use crate::manifest::{SeedManifest, SeededAccount, SeededUser};

/// The password of every seeded user (one shared placeholder hash).
pub const SEED_PASSWORD: &str = "tusk-surge seeded password";
/// As the api's home timeline rebuild (`crates/tusk-api/src/timeline.rs`).
const REBUILD_PER_ACCOUNT: i64 = 40;
const CHUNK: i64 = 25_000;

#[derive(Args, Debug)]
pub struct SeedArgs {
    /// The database to fill (created and migrated if missing; must hold no accounts unless
    /// `--reset`).
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/tusk_seed")]
    database_url: String,
    /// Redis, whose feeds are warmed.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Redis key prefix (as `TUSK_REDIS_PREFIX` of the api that will serve this instance).
    #[arg(long, env = "TUSK_REDIS_PREFIX", default_value = "tusk_seed:")]
    prefix: String,
    /// Drop the database and delete the prefix's Redis keys first.
    #[arg(long)]
    reset: bool,
    #[command(flatten)]
    options: SeedOptions,
    /// Where to write the manifest (users with tokens, popular accounts) for `replay`.
    #[arg(long, default_value = "seed-manifest.json")]
    manifest: PathBuf,
}

/// What to build.
#[derive(Args, Clone, Debug)]
pub struct SeedOptions {
    /// Accounts (each with a user).
    #[arg(long, default_value_t = 100_000)]
    pub accounts: i64,
    /// Accounts with more followers than this are pulled at read time (`TUSK_HYBRID_THRESHOLD`).
    #[arg(long, default_value_t = 10_000)]
    pub hybrid_threshold: i64,
    /// `TUSK_ACTIVE_DAYS`: the activity window, and the feeds' TTL (one day more).
    #[arg(long, default_value_t = 7)]
    pub active_days: u64,
    /// Home feeds built into Redis, for the most recently active users.
    #[arg(long, default_value_t = 2_000)]
    pub warm_users: i64,
    /// Users given an access token in the manifest.
    #[arg(long, default_value_t = 200)]
    pub manifest_users: i64,
}

pub async fn run(args: &SeedArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if args.reset {
        let (server, name) =
            args.database_url.rsplit_once('/').context("the database URL names no database")?;
        let admin = Store::connect_lazy(&format!("{server}/postgres"), 1)?;
        let name = name.split('?').next().unwrap_or(name);
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
            .execute(admin.pool())
            .await?;
        crate::stack::clear_redis(&args.redis_url, &args.prefix).await?;
        println!("reset: database {name} dropped, keys {}* deleted", args.prefix);
    }
    Store::create_database_if_missing(&args.database_url).await?;
    let store = Store::connect_lazy(&args.database_url, 8)?;
    store.migrate().await?;
    let mut manifest = seed(&store, &args.redis_url, &args.prefix, &args.options).await?;
    manifest.database = redact(&args.database_url);
    std::fs::write(&args.manifest, serde_json::to_vec_pretty(&manifest)?)
        .with_context(|| format!("writing {}", args.manifest.display()))?;
    println!(
        "seeded {} accounts in {:.1} s; manifest {} ({} users, {} popular accounts); password of every seeded user: {SEED_PASSWORD:?}",
        args.options.accounts,
        started.elapsed().as_secs_f64(),
        args.manifest.display(),
        manifest.users.len(),
        manifest.popular.len()
    );
    Ok(())
}

/// The database URL without its credentials.
fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://{host}"),
        _ => url.to_owned(),
    }
}

/// Times and prints one phase.
struct Phase(Instant, &'static str);

impl Phase {
    fn start(name: &'static str) -> Self {
        println!("{name}…");
        Self(Instant::now(), name)
    }

    fn done(self, what: &str) {
        println!("  {}: {what} in {:.1} s", self.1, self.0.elapsed().as_secs_f64());
    }
}

/// The SQL expression of account `g`'s id: the snowflake of its creation time, `g` in the low
/// bits (creation times are at least a millisecond apart, so ids are unique and rise with `g`).
fn account_id_sql(g: &str) -> String {
    format!("(((floor($3::float8 + ({g} - 1) * $4::float8))::bigint << 16) | ({g} & 65535))")
}

fn created_at_sql(g: &str) -> String {
    format!("to_timestamp((floor($3::float8 + ({g} - 1) * $4::float8)) / 1000.0)")
}

/// Fills an empty, migrated database and warms Redis under `prefix`; returns the manifest
/// (its `database` field left empty for the caller).
pub async fn seed(
    store: &Store,
    redis_url: &str,
    prefix: &str,
    options: &SeedOptions,
) -> anyhow::Result<SeedManifest> {
    let pool = store.pool();
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts").fetch_one(pool).await?;
    if existing > 0 {
        bail!("the database already holds {existing} accounts; seed an empty one (or pass --reset)");
    }
    let n = options.accounts.max(2);
    let now_ms = chrono::Utc::now().timestamp_millis() as f64;
    // accounts created over two years, the newest an hour ago
    let span_ms = 730.0 * 86_400_000.0;
    let start_ms = now_ms - span_ms - 3_600_000.0;
    let step_ms = span_ms / n as f64;
    let chunks: Vec<(i64, i64)> =
        (0..(n + CHUNK - 1) / CHUNK).map(|c| (c * CHUNK + 1, ((c + 1) * CHUNK).min(n))).collect();

    let phase = Phase::start("password hash");
    let hash = hash_password(SEED_PASSWORD)?;
    phase.done("one argon2id hash, shared by every seeded user");

    let ids = IdPlan { n, start_ms, step_ms, chunks };
    insert_accounts_and_follows(pool, options, &ids, &hash).await?;
    insert_statuses(pool, &ids).await?;

    let phase = Phase::start("hybrid flags and VACUUM ANALYZE");
    let hybrid = sqlx::query(
        "UPDATE accounts SET hybrid = true WHERE id IN \
           (SELECT target_account_id FROM follows GROUP BY target_account_id HAVING count(*) > $1)",
    )
    .bind(options.hybrid_threshold)
    .execute(pool)
    .await?
    .rows_affected();
    sqlx::query("VACUUM ANALYZE accounts, users, follows, statuses").execute(pool).await?;
    phase.done(&format!("{hybrid} hybrid accounts (over {} followers)", options.hybrid_threshold));

    let popular: Vec<SeededAccount> = sqlx::query_as::<_, (Id, String, i64)>(
        "SELECT a.id, a.username, f.n FROM \
           (SELECT target_account_id, count(*) AS n FROM follows GROUP BY 1 ORDER BY 2 DESC LIMIT 50) f \
         JOIN accounts a ON a.id = f.target_account_id ORDER BY f.n DESC",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(id, username, followers)| SeededAccount { id: id.to_string(), username, followers })
    .collect();
    if let Some(top) = popular.first() {
        println!("  most followed: {} with {} followers", top.username, top.followers);
    }

    let phase = Phase::start("warming Redis");
    let ttl = Duration::from_hours((options.active_days.max(1) + 1) * 24);
    let warm: Vec<(Id, String)> = sqlx::query_as(
        "SELECT u.account_id, a.username FROM users u JOIN accounts a ON a.id = u.account_id \
         WHERE u.last_active_at > now() - make_interval(days => $1) \
         ORDER BY u.last_active_at DESC LIMIT $2",
    )
    .bind(i32::try_from(options.active_days.clamp(1, 30)).unwrap_or(7))
    .bind(options.warm_users)
    .fetch_all(pool)
    .await?;
    let redis = redis::Client::open(redis_url)?.get_multiplexed_async_connection().await?;
    let home_feeds = futures_util::stream::iter(warm.iter().map(|(account, _)| {
        let redis = redis.clone();
        async move {
            let ids =
                store.home_timeline_ids(*account, REBUILD_PER_ACCOUNT, HOME_FEED_MAX_ITEMS as i64).await?;
            store_rebuilt_feed(redis, &format!("{prefix}feed:home:{account}"), &ids, ttl).await
        }
    }))
    .buffer_unordered(8)
    .try_fold(0_usize, |count, ()| async move { Ok(count + 1) })
    .await?;
    let hybrid_authors: Vec<Id> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE hybrid").fetch_all(pool).await?;
    for author in &hybrid_authors {
        let ids = store.recent_status_ids_for_followers(*author, HOME_FEED_MAX_ITEMS as i64).await?;
        store_rebuilt_feed(redis.clone(), &format!("{prefix}feed:account:{author}"), &ids, ttl).await?;
    }
    phase.done(&format!("{home_feeds} home feeds, {} account feeds of hybrid authors", hybrid_authors.len()));

    let phase = Phase::start("tokens");
    let users =
        create_tokens(store, &warm[..usize::try_from(options.manifest_users.max(0))?.min(warm.len())])
            .await?;
    phase.done(&format!("{} access tokens", users.len()));

    Ok(SeedManifest { database: String::new(), users, popular })
}

/// How account ids are minted: account `g` of `n` was created at `start_ms + (g - 1) * step_ms`.
struct IdPlan {
    n: i64,
    start_ms: f64,
    step_ms: f64,
    chunks: Vec<(i64, i64)>,
}

async fn insert_accounts_and_follows(
    pool: &sqlx::PgPool,
    options: &SeedOptions,
    ids: &IdPlan,
    hash: &str,
) -> anyhow::Result<()> {
    let IdPlan { n, start_ms, step_ms, ref chunks } = *ids;
    let phase = Phase::start("accounts and users");
    let accounts_sql = format!(
        "WITH a AS (INSERT INTO accounts (id, username, display_name, created_at) \
           SELECT {id}, 'user' || g, 'User ' || g, {created} FROM generate_series($1::bigint, $2::bigint) g \
           RETURNING id, username, created_at) \
         INSERT INTO users (id, account_id, email, password_hash, locale, created_at, last_active_at) \
         SELECT id, id, username || '@seed.example', $5, 'en', created_at, \
           GREATEST(created_at, now() - CASE \
             WHEN r < 0.35 THEN random() * make_interval(days => $6) \
             WHEN r < 0.60 THEN make_interval(days => $6) + random() * (interval '30 days' - make_interval(days => $6)) \
             ELSE interval '30 days' + random() * interval '335 days' END) \
         FROM (SELECT a.*, random() AS r FROM a) a",
        id = account_id_sql("g"),
        created = created_at_sql("g"),
    );
    run_chunks(chunks, |(lo, hi)| {
        sqlx::query(sqlx::AssertSqlSafe(accounts_sql.clone()))
            .bind(lo)
            .bind(hi)
            .bind(start_ms)
            .bind(step_ms)
            .bind(hash)
            .bind(i32::try_from(options.active_days.clamp(1, 30)).unwrap_or(7))
            .execute(pool)
    })
    .await?;
    phase.done(&format!("{n} accounts with users"));

    let phase = Phase::start("follows");
    let follows_sql = format!(
        "INSERT INTO follows (account_id, target_account_id) \
         SELECT {follower}, {target} FROM \
           (SELECT g, LEAST(5000, floor(3 * power(1 - random(), -1 / 1.4)))::int AS k \
            FROM generate_series($1::bigint, $2::bigint) g) a \
           CROSS JOIN LATERAL generate_series(1, a.k) j \
           CROSS JOIN LATERAL (SELECT LEAST($5, floor(exp(random() * ln($5 + 1)))::bigint) AS t \
                               WHERE j > 0) pick \
         WHERE pick.t <> a.g \
         ON CONFLICT DO NOTHING",
        follower = account_id_sql("a.g"),
        target = account_id_sql("pick.t"),
    );
    run_chunks(chunks, |(lo, hi)| {
        sqlx::query(sqlx::AssertSqlSafe(follows_sql.clone()))
            .bind(lo)
            .bind(hi)
            .bind(start_ms)
            .bind(step_ms)
            .bind(n)
            .execute(pool)
    })
    .await?;
    let follows: i64 = sqlx::query_scalar("SELECT count(*) FROM follows").fetch_one(pool).await?;
    phase.done(&format!("{follows} follows"));

    Ok(())
}

async fn insert_statuses(pool: &sqlx::PgPool, ids: &IdPlan) -> anyhow::Result<()> {
    let IdPlan { start_ms, step_ms, ref chunks, .. } = *ids;
    let phase = Phase::start("statuses");
    let statuses_sql = format!(
        "INSERT INTO statuses (id, account_id, text, visibility, language, created_at) \
         SELECT tusk_snowflake(ts), u.account_id, \
           'Seeded status ' || j || ' of ' || u.account_id || ': surging along, as one does.', \
           CASE WHEN v < 0.85 THEN 'public' WHEN v < 0.95 THEN 'unlisted' ELSE 'private' END, 'en', ts \
         FROM users u \
         CROSS JOIN LATERAL (SELECT LEAST(200, floor(power(1 - random(), -1 / 1.2)) - 1)::int AS c \
                             WHERE u.account_id IS NOT NULL) n \
         CROSS JOIN LATERAL generate_series(1, n.c) j \
         CROSS JOIN LATERAL (SELECT GREATEST(u.created_at, u.last_active_at - interval '30 days') \
                               + random() * (u.last_active_at - GREATEST(u.created_at, u.last_active_at - interval '30 days')) AS ts, \
                             random() AS v WHERE j > 0) s \
         WHERE u.account_id BETWEEN {lo} AND {hi} \
         ON CONFLICT DO NOTHING",
        lo = account_id_sql("$1::bigint"),
        hi = account_id_sql("$2::bigint"),
    );
    run_chunks(chunks, |(lo, hi)| {
        sqlx::query(sqlx::AssertSqlSafe(statuses_sql.clone()))
            .bind(lo)
            .bind(hi)
            .bind(start_ms)
            .bind(step_ms)
            .execute(pool)
    })
    .await?;
    sqlx::query(
        "UPDATE accounts a SET last_status_at = s.last FROM \
           (SELECT account_id, max(created_at) AS last FROM statuses GROUP BY account_id) s \
         WHERE a.id = s.account_id",
    )
    .execute(pool)
    .await?;
    let statuses: i64 = sqlx::query_scalar("SELECT count(*) FROM statuses").fetch_one(pool).await?;
    phase.done(&format!("{statuses} statuses"));

    Ok(())
}

/// Runs one statement per chunk, two at a time (one per core of this machine).
async fn run_chunks<'a, F, Fut>(chunks: &[(i64, i64)], statement: F) -> anyhow::Result<()>
where
    F: Fn((i64, i64)) -> Fut,
    Fut: Future<Output = Result<sqlx::postgres::PgQueryResult, sqlx::Error>> + 'a,
{
    futures_util::stream::iter(chunks.iter().map(|chunk| statement(*chunk)))
        .buffer_unordered(2)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(())
}

/// What tusk-cache's `store_rebuilt_feed` sends: the ids and the completeness marker `0` in one
/// `ZADD`, the feed trimmed to the newest 800 (the marker has rank 0 and stays), its TTL set.
async fn store_rebuilt_feed(
    mut redis: redis::aio::MultiplexedConnection,
    key: &str,
    ids: &[Id],
    ttl: Duration,
) -> anyhow::Result<()> {
    let mut members: Vec<(f64, i64)> = ids.iter().map(|id| (id.0 as f64, id.0)).collect();
    members.push((0.0, 0));
    let mut pipe = redis::pipe();
    pipe.zadd_multiple(key, &members)
        .ignore()
        .zremrangebyrank(key, 1, -(HOME_FEED_MAX_ITEMS as isize + 1))
        .ignore()
        .expire(key, i64::try_from(ttl.as_secs())?)
        .ignore();
    let () = pipe.query_async(&mut redis).await?;
    Ok(())
}

/// One app (`tusk-surge seed`) and one token per user, stored as SHA-256 hashes.
pub(crate) async fn create_tokens(store: &Store, users: &[(Id, String)]) -> anyhow::Result<Vec<SeededUser>> {
    let scopes = "read write follow";
    let app = store
        .create_app(&NewApp {
            name: "tusk-surge seed",
            website: None,
            redirect_uris: "urn:ietf:wg:oauth:2.0:oob",
            scopes,
            client_id: &token::generate(),
            client_secret_hash: &token::digest(&token::generate()),
        })
        .await?;
    let tokens: Vec<String> = users.iter().map(|_| token::generate()).collect();
    let hashes: Vec<Vec<u8>> = tokens.iter().map(|t| token::digest(t)).collect();
    let accounts: Vec<Id> = users.iter().map(|(id, _)| *id).collect();
    sqlx::query(
        "INSERT INTO oauth_access_tokens (application_id, account_id, scopes, token_hash) \
         SELECT $1, a, $2, h FROM unnest($3::bigint[], $4::bytea[]) AS t(a, h)",
    )
    .bind(app.id)
    .bind(scopes)
    .bind(&accounts)
    .bind(&hashes)
    .execute(store.pool())
    .await?;
    Ok(users
        .iter()
        .zip(tokens)
        .map(|((id, username), token)| SeededUser { id: id.to_string(), username: username.clone(), token })
        .collect())
}

/// One argon2id PHC string of `password`, with the api's parameters.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    tusk_core::password_hasher()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

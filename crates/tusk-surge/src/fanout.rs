//! `tusk-surge bench fanout`: one `tusk worker` process fans statuses out to 1k, 10k and 100k
//! followers; the delivery rate is compared with `redis-benchmark`'s pipelined ZADD rate on the
//! same Redis, measured in the same run.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tusk_core::{Id, StatusText, Visibility};
use tusk_queue::{Publisher, Topology};
use tusk_store::{CreatedStatus, NewStatus, Store};

use crate::FanoutArgs;
use crate::stack::{self, Process};

const DATABASE: &str = "tusk_bench";
const PREFIX: &str = "tusk_bench";
const ADMIN: &str = "127.0.0.1:19191";

pub async fn run(args: &FanoutArgs) -> anyhow::Result<()> {
    let database_url = format!("{}/{DATABASE}", args.postgres);
    let store = stack::fresh_database(&args.postgres, DATABASE).await?;
    stack::clear_redis(&args.redis, &format!("{PREFIX}:")).await?;
    let topology = Topology::new(PREFIX);
    stack::purge_queues(&args.amqp, &topology).await?;

    println!("seeding {} followers", args.followers);
    let sizes: Vec<i64> =
        [1_000, 10_000, args.followers].into_iter().filter(|n| *n <= args.followers).collect();
    let authors = seed(&store, &sizes, args.followers).await?;

    let _worker = start_worker(args, &database_url)?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    stack::wait_ready(&http, ADMIN, "worker").await?;
    let publisher = Publisher::new(&args.amqp, "tusk-surge", topology);

    let mut best_rate = 0.0_f64;
    for (author, followers) in authors.iter().zip(&sizes) {
        let mut lags = Vec::new();
        for _ in 0..args.runs {
            let lag = fan_out_once(&store, &publisher, &http, *author, *followers).await?;
            lags.push(lag);
            if *followers == args.followers {
                best_rate = best_rate.max((*followers + 1) as f64 / lag.as_secs_f64());
            }
        }
        lags.sort();
        println!(
            "author with {followers} followers: fan-out lag p50 {} ms, p99 {} ms ({} runs)",
            percentile(&lags, 0.50).as_millis(),
            percentile(&lags, 0.99).as_millis(),
            lags.len()
        );
    }
    let zadd = redis_benchmark_zadd(&args.redis)?;
    println!(
        "fanout deliveries/s: {:.0}, redis pipelined ZADD/s: {zadd:.0}, ratio: {:.2}",
        best_rate,
        best_rate / zadd
    );
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// One author per size: the first `size` of the followers follow it. All users are active.
async fn seed(store: &Store, sizes: &[i64], followers: i64) -> anyhow::Result<Vec<Id>> {
    let pool = store.pool();
    let followers: Vec<Id> = sqlx::query_scalar(
        "WITH a AS (INSERT INTO accounts (username) SELECT 'f' || g FROM generate_series(1, $1) g RETURNING id), \
              u AS (INSERT INTO users (account_id, email, password_hash) \
                    SELECT id, id || '@bench.example', 'x' FROM a) \
         SELECT id FROM a ORDER BY id",
    )
    .bind(followers)
    .fetch_all(pool)
    .await?;
    let mut authors = Vec::new();
    for size in sizes {
        let author: Id = sqlx::query_scalar("INSERT INTO accounts (username) VALUES ($1) RETURNING id")
            .bind(format!("author_{size}"))
            .fetch_one(pool)
            .await?;
        sqlx::query(
            "INSERT INTO follows (account_id, target_account_id) SELECT f, $2 FROM unnest($1::bigint[]) f",
        )
        .bind(&followers[..usize::try_from(*size)?])
        .bind(author)
        .execute(pool)
        .await?;
        authors.push(author);
    }
    // as autovacuum would have by now: visibility map set, so follower pages are index-only
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
    Ok(authors)
}

fn start_worker(args: &FanoutArgs, database_url: &str) -> anyhow::Result<Process> {
    let bin = stack::tusk_bin(args.tusk_bin.as_deref())?;
    stack::spawn(
        &bin,
        "worker",
        &[
            ("DATABASE_URL", database_url.to_owned()),
            ("REDIS_URL", args.redis.clone()),
            ("TUSK_REDIS_PREFIX", format!("{PREFIX}:")),
            ("AMQP_URL", args.amqp.clone()),
            ("TUSK_QUEUE_PREFIX", PREFIX.to_owned()),
            ("TUSK_ADMIN_LISTEN", ADMIN.to_owned()),
            // every author is pushed: this measures the push path at its largest
            ("TUSK_HYBRID_THRESHOLD", "1000000000".to_owned()),
        ],
    )
}

async fn deliveries(http: &reqwest::Client) -> anyhow::Result<u64> {
    let text = http.get(format!("http://{ADMIN}/metrics")).send().await?.text().await?;
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("tusk_fanout_deliveries_total "))
        .context("no tusk_fanout_deliveries_total")?;
    Ok(value.trim().parse::<f64>()? as u64)
}

/// Posts one status as `author` the way the api does (status + outbox row, then publish) and
/// returns the time until every feed holds it, read from the worker's delivery counter.
async fn fan_out_once(
    store: &Store,
    publisher: &Publisher,
    http: &reqwest::Client,
    author: Id,
    followers: i64,
) -> anyhow::Result<Duration> {
    let before = deliveries(http).await?;
    let text = StatusText::parse("benchmark").map_err(|e| anyhow::anyhow!("{e}"))?;
    let CreatedStatus::New(status, entry) = store
        .create_status(&NewStatus {
            account_id: author,
            text: &text,
            spoiler_text: "",
            sensitive: Some(false),
            visibility: Some(Visibility::Public),
            language: None,
            in_reply_to: None,
            application_id: None,
            idempotency_key: None,
            mentions: &[],
            tags: &[],
            media_ids: &[],
        })
        .await?
    else {
        bail!("a status without an Idempotency-Key is always new");
    };
    let created = Instant::now();
    publisher.publish(&entry.event).await?;
    store.outbox_done(entry.id).await?;
    let target = before + u64::try_from(followers)? + 1;
    let deadline = created + Duration::from_mins(2);
    while deliveries(http).await? < target {
        if Instant::now() > deadline {
            bail!("fan-out of {} did not finish in 120 s", status.id);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(created.elapsed())
}

/// redis-benchmark's pipelined ZADD rate (requests/s), in database 15, cleaned up after.
fn redis_benchmark_zadd(url: &str) -> anyhow::Result<f64> {
    let rest = url.trim_start_matches("redis://");
    let (host, port) = rest.split_once(':').unwrap_or((rest, "6379"));
    let port = port.trim_end_matches('/');
    let output = Command::new("redis-benchmark")
        .args(["-h", host, "-p", port, "--dbnum", "15", "-t", "zadd", "-n", "2000000", "-P", "64", "-q"])
        .output()
        .context("running redis-benchmark (package redis-tools)")?;
    let _ = Command::new("redis-cli").args(["-h", host, "-p", port, "-n", "15", "DEL", "myzset"]).output();
    let text = String::from_utf8_lossy(&output.stdout);
    // "ZADD: 1234567.89 requests per second, p50=0.5 msec"
    let rate = text
        .split(['\r', '\n'])
        .filter_map(|line| line.trim().strip_prefix("ZADD: "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .next_back()
        .with_context(|| format!("no ZADD rate in redis-benchmark's output: {text}"))?;
    Ok(rate)
}

//! Fault tests: the real `tusk` processes under a steady load of sign-ups, follows, posts and home
//! reads (load.rs), while a server restarts or is flushed, a process is SIGKILLed or SIGTERMed,
//! or the api dies between committing a post and publishing its event. After each, the load's
//! checks: no 5xx but 503s with `Retry-After`, every accepted post in every follower's home
//! exactly once.
//!
//! The disruptive tests run on servers of their own (servers.rs), never on the machine's shared
//! ones; the two worker tests at the end, which disturb no server, use the shared ones like the
//! `api` tests. One test at a time: they share the private servers, and a restart would fail the
//! test beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// the helpers are shared with the `api` tests, which use more of them
#![allow(dead_code)]

#[path = "../api/helpers.rs"]
mod helpers;
mod load;
mod servers;
mod stack;

use std::os::unix::process::ExitStatusExt as _;
use std::process::Command;
use std::time::{Duration, Instant};

use helpers::{TestApp, WorkerProcess, eventually, eventually_within, metric_value};
use load::{Load, LoadSettings};
use reqwest::StatusCode;
use serde_json::json;
use servers::servers;
use stack::{Balancer, Stack};
use tokio::sync::Mutex;

/// One fault test at a time.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// How long the load runs in each test, and when the fault comes.
const LOAD: Duration = Duration::from_secs(18);
const FAULT_AT: Duration = Duration::from_secs(4);

async fn metric(http: &reqwest::Client, admin: &str, series: &str) -> u64 {
    let text = http.get(format!("{admin}/metrics")).send().await.unwrap().text().await.unwrap();
    metric_value(&text, series)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_restarted_mid_load() {
    let _serial = SERIAL.lock().await;
    let servers = servers().await;
    let stack = Stack::new(servers, "rabbitmq").await;
    let api = stack.api("api", &[]).await;
    let _worker = stack.worker("worker", &[]).await;
    // through a balancer that follows /readyz, as a Kubernetes Service: the api stays in it
    // while RabbitMQ is down (a shared dependency), since it keeps accepting posts
    let load = Load::prepare("rabbit", Balancer::over(&[&api]), LoadSettings::default()).await;
    let running = load.run(LOAD);

    tokio::time::sleep(FAULT_AT).await;
    let outage = servers.rabbitmq.outage().await;
    let down_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ready_during = api.is_ready(&stack.http).await;
    let pending_during = stack.outbox_pending().await;
    let down_for = outage.end().await;
    let up_at = Instant::now();
    running.finish().await;

    // the api kept accepting posts: stored with their events, which waited in the outbox
    let accepted_during = load.posts_sent_between(down_at, up_at);
    assert!(ready_during, "the api left its Service while RabbitMQ was down");
    assert!(accepted_during > 0, "no post was accepted while RabbitMQ was down");
    assert!(pending_during > 0, "no event waited in the outbox while RabbitMQ was down");
    let summary = load.verify(Duration::from_mins(1)).await;
    eventually("the outbox to drain", || async { stack.outbox_pending().await == 0 }).await;
    eprintln!(
        "rabbitmq restart: broker down {:.1} s (node stop to up again), {accepted_during} posts accepted \
         meanwhile, {pending_during} events in the outbox 3 s in, the api ready throughout; {summary}",
        down_for.as_secs_f64(),
    );
}

/// Redis holds no truth, only copies and counters, and a flush degrades, documented:
/// - home feeds are gone: each is rebuilt from PostgreSQL on its owner's next read (the newest 40
///   statuses of each followed account), and fan-out writes into a missing feed are kept apart
///   from a complete one (the feed marker), so nothing is lost or shown half;
/// - rate-limit counters restart from zero: each client gets a fresh window (limits fail open,
///   never closed);
/// - `Idempotency-Key`s are not in Redis (they are stored with their status in PostgreSQL): a
///   retry after the flush still gets the original status;
/// - cached entities and tokens are read again from PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_flushed_mid_load() {
    let _serial = SERIAL.lock().await;
    let servers = servers().await;
    let stack = Stack::new(servers, "redis").await;
    let api = stack.api("api", &[]).await;
    let _worker = stack.worker("worker", &[]).await;
    let load = Load::prepare("flush", Balancer::direct(&api), LoadSettings::default()).await;
    let probe = load.account(0);
    let remaining = || async {
        let response = stack
            .http
            .get(format!("{}/api/v1/accounts/verify_credentials", api.base()))
            .bearer_auth(&probe.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.headers()["x-ratelimit-remaining"].to_str().unwrap().parse::<u64>().unwrap()
    };
    let keyed_post = || async {
        let response = stack
            .http
            .post(format!("{}/api/v1/statuses", api.base()))
            .bearer_auth(&probe.token)
            .header("Idempotency-Key", "the flush probe")
            .json(&json!({ "status": "posted around the flush" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    };
    let rebuilt = "tusk_feed_regenerations_total";
    let running = load.run(LOAD);

    tokio::time::sleep(FAULT_AT).await;
    let before = remaining().await;
    let first = keyed_post().await;
    assert_eq!(keyed_post().await, first, "the key works before the flush");
    let rebuilt_before = metric(&stack.http, &api.admin, rebuilt).await;
    servers.redis.flush_all().await;
    let flushed_at = Instant::now();
    let after = remaining().await;
    let second = keyed_post().await;
    running.finish().await;

    assert!(after > before, "the flush restarts the rate-limit window ({before} left before, {after} after)");
    assert_eq!(second, first, "an Idempotency-Key outlives a Redis flush (it is kept in PostgreSQL)");
    let summary = load.verify(Duration::from_mins(1)).await;
    let rebuilt_after = metric(&stack.http, &api.admin, rebuilt).await;
    assert!(rebuilt_after > rebuilt_before, "no home feed was rebuilt after the flush");
    eprintln!(
        "redis flush: {} home feeds rebuilt from PostgreSQL after it, rate limit {before} -> {after} left, \
         {} posts accepted after it; {summary}",
        rebuilt_after - rebuilt_before,
        load.posts_sent_between(flushed_at, Instant::now()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_load() {
    let _serial = SERIAL.lock().await;
    let servers = servers().await;
    let stack = Stack::new(servers, "postgres").await;
    let mut api = stack.api("api", &[]).await;
    let _worker = stack.worker("worker", &[]).await;
    // through a balancer that follows /readyz: the api stays in it, answering 503 + Retry-After
    let load = Load::prepare("pg", Balancer::over(&[&api]), LoadSettings::default()).await;
    let probe = load.account(0);
    let home = format!("{}/api/v1/timelines/home", api.base());
    let statuses = format!("{}/api/v1/statuses", api.base());
    let post = |text: &'static str| {
        stack.http.post(&statuses).bearer_auth(&probe.token).json(&json!({ "status": text })).send()
    };
    let running = load.run(LOAD);

    tokio::time::sleep(FAULT_AT).await;
    // a warm home read is a Redis read (caches.rs), but under this load the probe's page keeps
    // changing (new posts whose counts are not cached yet, authors whose counts moved): a read
    // during the outage is served from Redis when its page is cached, else a 503 like any other
    let warm = stack.http.get(&home).bearer_auth(&probe.token).send().await.unwrap();
    assert_eq!(warm.status(), StatusCode::OK, "the warm-up read");
    let outage = servers.postgres.outage().await;
    let read = stack.http.get(&home).bearer_auth(&probe.token).send().await.unwrap();
    assert!(
        [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(&read.status()),
        "a home read during the outage: {}",
        read.status()
    );
    // a write needs PostgreSQL: longer than the pool's 5 s wait for a connection, then 503
    let asked = Instant::now();
    let response = post("while PostgreSQL is down").await.unwrap();
    let answered_in = asked.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "a post during the outage");
    let retry_after = response.headers().get("retry-after").expect("Retry-After on the 503").to_owned();
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].is_string(), "a Mastodon-style error: {body}");
    assert!(api.is_ready(&stack.http).await, "the api left its Service while PostgreSQL was down");
    tokio::time::sleep(Duration::from_secs(8).saturating_sub(asked.elapsed())).await;
    let down_for = outage.end().await;

    // the same process recovers on its own: its writes go through again
    let recovered = Instant::now();
    eventually_within(Duration::from_secs(20), "the api to take writes again", || async {
        post("PostgreSQL is back").await.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    let recovered_in = recovered.elapsed();
    assert!(api.is_running(), "the api was not restarted");
    running.finish().await;

    let unavailable = load.unavailable_answers();
    assert!(!unavailable.is_empty(), "the load saw no 503 during the outage");
    let summary = load.verify(Duration::from_secs(90)).await;
    eprintln!(
        "postgres restart: down {:.1} s; warm home reads served from Redis during it; a post during it got 503 (Retry-After {retry_after:?}) after \
         {:.1} s; the api answered 200 {:.1} s after PostgreSQL was back; the load got {} 503s; {summary}",
        down_for.as_secs_f64(),
        answered_in.as_secs_f64(),
        recovered_in.as_secs_f64(),
        unavailable.len(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_and_an_api_replica_sigkilled_mid_load() {
    let _serial = SERIAL.lock().await;
    let servers = servers().await;
    let stack = Stack::new(servers, "sigkill").await;
    let mut api_1 = stack.api("api-1", &[]).await;
    let api_2 = stack.api("api-2", &[]).await;
    let mut worker_1 = stack.worker("worker-1", &[]).await;
    let _worker_2 = stack.worker("worker-2", &[]).await;
    let load = Load::prepare("kill", Balancer::over(&[&api_1, &api_2]), LoadSettings::default()).await;
    let running = load.run(LOAD);

    tokio::time::sleep(FAULT_AT).await;
    let jobs = "tusk_jobs_total{job=\"plan_fanout\",outcome=\"ok\"}";
    let worker_1_jobs = metric(&stack.http, &worker_1.admin, jobs).await;
    worker_1.kill();
    tokio::time::sleep(Duration::from_secs(4)).await;
    api_1.kill();
    running.finish().await;

    assert!(worker_1_jobs > 0, "worker-1 was doing fan-outs when it was killed");
    // what worker-1 held unacknowledged went back to the queue for worker-2; api-1's requests
    // in flight failed at the connection, and the clients retried them on api-2
    let summary = load.verify(Duration::from_mins(1)).await;
    eprintln!("sigkill: worker-1 killed after {worker_1_jobs} fan-outs, api-1 killed 4 s later; {summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_killed_between_commit_and_publish_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let servers = servers().await;
    let stack = Stack::new(servers, "crash").await;
    // the binary of `cargo test` has the switch compiled in (feature fault-injection)
    let mut doomed = stack.api("api-doomed", &[("TUSK_FAULT_CRASH_AFTER_COMMIT", "1")]).await;
    let api = stack.api("api", &[]).await;
    let worker = stack.worker("worker", &[]).await;
    let load = Load::prepare("crash", Balancer::direct(&api), LoadSettings::default()).await;
    let running = load.run(LOAD);

    tokio::time::sleep(FAULT_AT).await;
    let author = load.account(0);
    let text = "committed, then my api died";
    let post = |base: String| {
        stack
            .http
            .post(format!("{base}/api/v1/statuses"))
            .bearer_auth(&author.token)
            .header("Idempotency-Key", text)
            .json(&json!({ "status": text }))
            .send()
    };
    let sent = Instant::now();
    let outcome = post(doomed.base().to_owned()).await;
    if let Ok(answer) = &outcome {
        panic!(
            "{} answered {} instead of crashing: it was built without the fault-injection feature \
             (cargo test builds it with; was target/release/tusk replaced by a concurrent cargo build?)",
            stack.tusk.display(),
            answer.status()
        );
    }
    let exit = doomed.exited_within(Duration::from_secs(5)).await;
    assert_eq!(exit.signal(), Some(6), "the api aborted (SIGABRT): {exit}");
    // the status and its event were committed before the crash
    let id: i64 = sqlx::query_scalar("SELECT id FROM statuses WHERE text = $1")
        .bind(text)
        .fetch_one(stack.deps.store.pool())
        .await
        .expect("the status was committed");
    // the client's retry on another replica gets the committed status: the key was stored with it
    let retry = post(api.base().to_owned()).await.unwrap();
    assert_eq!(retry.status(), StatusCode::OK, "{}", retry.text().await.unwrap());
    let retried: serde_json::Value = retry.json().await.unwrap();
    assert_eq!(retried["id"], id.to_string(), "the retry names the committed status");
    load.add_committed_post(0, id.to_string(), text.to_owned(), sent);
    running.finish().await;

    // the worker's outbox relay published the orphaned event: the post reaches every follower
    let summary = load.verify(Duration::from_mins(1)).await;
    let relayed =
        metric(&stack.http, &worker.admin, "tusk_outbox_published_total{publisher=\"relay\"}").await;
    assert!(relayed >= 1, "the relay published nothing");
    let copies: i64 = sqlx::query_scalar("SELECT count(*) FROM statuses WHERE text = $1")
        .bind(text)
        .fetch_one(stack.deps.store.pool())
        .await
        .unwrap();
    assert_eq!(copies, 1, "one status for the post and its retry");
    eprintln!(
        "crash after commit: status {id} committed, relayed by the worker ({relayed} relayed); {summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_to_an_api_replica_fails_no_request() {
    let _serial = SERIAL.lock().await;
    let servers = servers().await;
    let stack = Stack::new(servers, "sigterm").await;
    let delay = Duration::from_secs(2);
    let mut api_1 = stack.api("api-1", &[("TUSK_SHUTDOWN_DELAY", "2")]).await;
    let api_2 = stack.api("api-2", &[("TUSK_SHUTDOWN_DELAY", "2")]).await;
    let _worker = stack.worker("worker", &[]).await;
    let balancer = Balancer::over(&[&api_1, &api_2]);
    // no retries: every connection error or 503 is a failed request
    let settings = LoadSettings { retry: false, ..LoadSettings::default() };
    let load = Load::prepare("term", balancer.clone(), settings).await;
    let running = load.run(LOAD);

    tokio::time::sleep(FAULT_AT).await;
    api_1.terminate();
    let signalled = Instant::now();
    // readiness goes false first, while the replica still serves
    eventually("api-1's /readyz to turn false", || async { !api_1.is_ready(&stack.http).await }).await;
    let unready_in = signalled.elapsed();
    let instance = stack.http.get(format!("{}/api/v1/instance", api_1.base())).send().await.unwrap();
    assert_eq!(instance.status(), StatusCode::OK, "api-1 still serves while draining");
    eventually("the balancer to drop api-1", || async { !balancer.routes_to(0) }).await;
    // requests still in flight on api-1 when it stops taking new ones finish: sign-ups (a
    // password hash each, one at a time; four is as many as a replica with one hashing thread
    // queues) sent just before the stop
    tokio::time::sleep(delay.saturating_sub(signalled.elapsed() + Duration::from_millis(100))).await;
    let in_flight: Vec<_> = (0..4)
        .map(|n| {
            let http = stack.http.clone();
            let url = format!("{}/api/v1/accounts", api_1.base());
            let form = helpers::sign_up_form(&format!("inflight{n}"));
            let token = load.app_token.clone();
            tokio::spawn(async move {
                let response = http.post(url).bearer_auth(token).json(&form).send().await;
                (response.map(|r| r.status()), Instant::now())
            })
        })
        .collect();
    let exit = api_1.exited_within(Duration::from_secs(15)).await;
    let stopped_in = signalled.elapsed();
    assert!(exit.success(), "api-1 exited with {exit}");
    let stop_at = signalled + delay;
    let mut finished_after_stop = 0;
    for request in in_flight {
        let (status, done) = request.await.unwrap();
        assert_eq!(status.unwrap(), StatusCode::OK, "a request in flight at the stop");
        finished_after_stop += usize::from(done > stop_at);
    }
    running.finish().await;

    let summary = load.verify(Duration::from_mins(1)).await;
    assert_eq!(summary.connection_errors, 0);
    eprintln!(
        "sigterm: /readyz false {:.2} s after the signal, exit 0 after {:.1} s, {finished_after_stop} of 4 \
         sign-ups in flight finished after the stop began; {summary}",
        unready_in.as_secs_f64(),
        stopped_in.as_secs_f64(),
    );
}

#[tokio::test]
async fn a_worker_killed_mid_fanout_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let app = TestApp::spawn_api_only().await;
    let bob = app.sign_up("bob").await;
    let followers = app.seed_followers(&bob.id, 20_000).await;
    // small batches, one at a time: the fan-out takes long enough to be caught in the middle
    // (and a threshold above 20,000, so that bob is pushed, not pulled)
    let push = ("TUSK_HYBRID_THRESHOLD", "1000000");
    let slow =
        [("TUSK_FANOUT_BATCH", "20"), ("TUSK_WORKER_PREFETCH", "1"), ("TUSK_WORKER_CONCURRENCY", "1"), push];
    let mut doomed = WorkerProcess::start(&app, &slow).await;

    let status = app.post_status(&bob, "to twenty thousand feeds").await["id"].as_str().unwrap().to_owned();
    eventually("the fan-out to reach followers", || async {
        metric_value(
            &app.metrics(&doomed.admin).await,
            "tusk_jobs_total{job=\"deliver_batch\",outcome=\"ok\"}",
        ) > 0
    })
    .await;
    doomed.kill();
    let at_kill = app.feeds_holding(&followers, &status).await;
    assert!(at_kill < followers.len(), "the worker died mid-fan-out ({at_kill} feeds written)");
    eprintln!("worker killed with {at_kill} of {} feeds written", followers.len());

    // a fresh worker picks up what the dead one held unacknowledged
    let _survivor = WorkerProcess::start(&app, &[("TUSK_FANOUT_BATCH", "20"), push]).await;
    eventually_within(Duration::from_mins(1), "every feed", || async {
        app.feeds_holding(&followers, &status).await == followers.len()
    })
    .await;
}

#[tokio::test]
async fn a_worker_stops_cleanly_on_sigterm() {
    let _serial = SERIAL.lock().await;
    let app = TestApp::spawn_api_only().await;
    let mut worker = WorkerProcess::start(&app, &[]).await;
    let bob = app.sign_up("bob").await;
    let status = app.post_status(&bob, "before the stop").await["id"].as_str().unwrap().to_owned();
    eventually("the post in bob's feed", || async { app.in_redis_feed(&bob, &status).await }).await;

    let pid = worker.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    // it stops taking messages, finishes what it holds, closes its connections and exits 0
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = worker.child.try_wait().unwrap() {
            break exit;
        }
        assert!(std::time::Instant::now() < deadline, "the worker did not exit within 15 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "exit status {exit}");
}

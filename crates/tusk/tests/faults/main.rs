//! Fault tests: the real processes against the real servers, with servers stopped and workers
//! killed mid-work. They run in their own test binary, one at a time (a stopped RabbitMQ would
//! fail any test running beside them), after the `api` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// the helpers are shared with the `api` tests, which use more of them
#![allow(dead_code)]

#[path = "../api/helpers.rs"]
mod helpers;

use std::process::Command;
use std::time::Duration;

use helpers::{TestApp, WorkerProcess, eventually, eventually_within, metric_value};
use tokio::sync::Mutex;

/// One fault test at a time.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// Stops the RabbitMQ broker (the Erlang node stays up) and starts it again when dropped, so
/// RabbitMQ is left running even when the test fails.
struct StoppedRabbitMq;

impl StoppedRabbitMq {
    fn stop() -> Self {
        let status = Command::new("rabbitmqctl").args(["-q", "stop_app"]).status().expect("rabbitmqctl");
        assert!(status.success(), "rabbitmqctl stop_app failed");
        Self
    }
}

impl Drop for StoppedRabbitMq {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").args(["-q", "start_app"]).status();
        let _ = Command::new("rabbitmqctl").args(["-q", "await_startup"]).status();
    }
}

#[tokio::test]
async fn posts_accepted_while_rabbitmq_is_down_reach_every_feed_once_it_is_back() {
    let _serial = SERIAL.lock().await;
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;

    let outage = StoppedRabbitMq::stop();
    let mut accepted = Vec::new();
    for n in 0..3 {
        // the post is stored with its event; only the publish fails, and the client sees 200
        accepted.push(
            app.post_status(&bob, &format!("during the outage {n}")).await["id"].as_str().unwrap().to_owned(),
        );
    }
    assert_eq!(app.deps.store.outbox_pending().await.unwrap(), 3, "the events wait in the outbox");
    drop(outage);

    for id in &accepted {
        eventually("delivery after RabbitMQ is back", || async { app.in_redis_feed(&alice, id).await }).await;
    }
    eventually("the outbox to drain", || async { app.deps.store.outbox_pending().await.unwrap() == 0 }).await;
    let mut newest_first = accepted.clone();
    newest_first.reverse();
    assert_eq!(app.home_ids(&alice, "").await, newest_first);
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

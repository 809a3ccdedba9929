//! Fan-out at scale: batches shared by worker processes, hybrid pulls, clean-ups, retries,
//! duplicate deliveries.

use std::time::Duration;

use lapin::BasicProperties;
use lapin::options::BasicPublishOptions;
use reqwest::StatusCode;
use serde_json::Value;
use tusk_core::{Event, Id};
use tusk_queue::{Publisher, Topology};

use crate::helpers::{TestApp, WorkerProcess, eventually, expect_error, metric_value};

fn deliver_batches(metrics: &str) -> u64 {
    metric_value(metrics, "tusk_jobs_total{job=\"deliver_batch\",outcome=\"ok\"}")
}

#[tokio::test]
async fn a_large_fanout_is_shared_by_two_worker_processes() {
    let app = TestApp::spawn_api_only().await;
    // one message at a time per worker, so RabbitMQ deals the batches out between them
    let env = [("TUSK_FANOUT_BATCH", "50"), ("TUSK_WORKER_PREFETCH", "1"), ("TUSK_WORKER_CONCURRENCY", "1")];
    let first = WorkerProcess::start(&app, &env).await;
    let second = WorkerProcess::start(&app, &env).await;
    let bob = app.sign_up("bob").await;
    let followers = app.seed_followers(&bob.id, 1000).await;

    let status = app.post_status(&bob, "to a thousand feeds").await["id"].as_str().unwrap().to_owned();
    eventually("all 1000 feeds", || async { app.feeds_holding(&followers, &status).await == 1000 }).await;

    let (a, b) = (
        deliver_batches(&app.metrics(&first.admin).await),
        deliver_batches(&app.metrics(&second.admin).await),
    );
    assert_eq!(a + b, 20, "1000 followers in batches of 50");
    assert!(a > 0 && b > 0, "both workers delivered batches: {a} and {b}");
    assert!(app.in_redis_feed(&bob, &status).await, "and the author's own feed");
}

#[tokio::test]
async fn inactive_followers_get_no_write_and_their_feed_is_rebuilt_on_return() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.follow(&alice, &bob).await;
    app.wait_for_jobs("merge_follow", 1).await;
    // alice was last seen a month ago
    sqlx::query("UPDATE users SET last_active_at = now() - interval '30 days' WHERE account_id = $1")
        .bind(alice.id.parse::<i64>().unwrap())
        .execute(app.deps.store.pool())
        .await
        .unwrap();
    let status = app.post_status(&bob, "while alice was away").await["id"].as_str().unwrap().to_owned();
    app.wait_for_jobs("plan_fanout", 1).await;
    assert!(!app.in_redis_feed(&alice, &status).await, "no fan-out to an inactive user");
    // she comes back: her home is rebuilt from PostgreSQL, with the post
    assert_eq!(app.home_ids(&alice, "").await, vec![status]);
}

#[tokio::test]
async fn hybrid_authors_are_pulled_at_read_time_with_correct_paging() {
    let app = TestApp::spawn_with(|worker| worker.hybrid_threshold = 2).await;
    let alice = app.sign_up("alice").await;
    let star = app.sign_up("star").await;
    let friend = app.sign_up("friend").await;
    app.follow(&alice, &star).await;
    app.follow(&alice, &friend).await;
    app.seed_followers(&star.id, 2).await; // three followers: over the threshold of 2
    app.wait_for_jobs("merge_follow", 2).await;
    assert!(app.home_ids(&alice, "").await.is_empty());

    let mut posted = Vec::new();
    for (author, text) in
        [(&star, "s1"), (&friend, "f1"), (&star, "s2"), (&alice, "a1"), (&star, "s3"), (&friend, "f2")]
    {
        posted.push(app.post_status(author, text).await["id"].as_str().unwrap().to_owned());
    }
    app.wait_for_jobs("plan_fanout", 6).await;
    let [s1, f1, s2, a1, s3, f2] = <[String; 6]>::try_from(posted).unwrap();

    for star_status in [&s1, &s2, &s3] {
        assert!(!app.in_redis_feed(&alice, star_status).await, "a hybrid author is not pushed");
    }
    assert!(app.in_redis_feed(&alice, &f1).await, "a small author is");
    let hybrid: bool = sqlx::query_scalar("SELECT hybrid FROM accounts WHERE id = $1")
        .bind(star.id.parse::<i64>().unwrap())
        .fetch_one(app.deps.store.pool())
        .await
        .unwrap();
    assert!(hybrid);
    // alice's cached hybrid followees were read before star switched; they live 60 s (the
    // documented bound for a switch to reach readers): drop them as their expiry would
    app.evict(&app.deps.cache.keys().hybrid_followees(alice.id.parse().unwrap())).await;

    let all = vec![f2.clone(), s3.clone(), a1.clone(), s2.clone(), f1.clone(), s1.clone()];
    assert_eq!(app.home_ids(&alice, "").await, all);
    assert_eq!(app.home_ids(&alice, "?limit=2").await, all[0..2]);
    assert_eq!(app.home_ids(&alice, &format!("?limit=2&max_id={s3}")).await, all[2..4]);
    assert_eq!(app.home_ids(&alice, &format!("?limit=2&max_id={s2}")).await, all[4..6]);
    assert_eq!(app.home_ids(&alice, &format!("?since_id={s2}")).await, all[0..3]);
    assert_eq!(app.home_ids(&alice, &format!("?limit=2&min_id={s1}")).await, vec![s2.clone(), f1.clone()]);

    // the pulled account feed is itself rebuilt when lost
    let star_id: Id = star.id.parse().unwrap();
    let mut redis = redis::Client::open(app.conn.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(app.deps.cache.keys().account_feed(star_id))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(app.home_ids(&alice, "").await, all);
}

#[tokio::test]
async fn a_deleted_status_leaves_every_feed() {
    let app = TestApp::spawn_with(|worker| worker.fanout_batch = 10).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.follow(&alice, &bob).await;
    let followers = app.seed_followers(&bob.id, 35).await;
    app.wait_for_jobs("merge_follow", 1).await;
    let status = app.post_status(&bob, "regrettable").await["id"].as_str().unwrap().to_owned();
    eventually("fan-out", || async { app.feeds_holding(&followers, &status).await == 35 }).await;
    assert!(app.in_redis_feed(&alice, &status).await);

    // only the author may delete it
    let url = app.url(&format!("/api/v1/statuses/{status}"));
    let response = app.http.delete(&url).bearer_auth(&alice.token).send().await.unwrap();
    expect_error(response, StatusCode::NOT_FOUND).await;
    let response = app.http.delete(&url).bearer_auth(&bob.token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let deleted: Value = response.json().await.unwrap();
    assert_eq!(deleted["id"], status.as_str());
    assert_eq!(deleted["text"], "regrettable");

    eventually("the status to leave every feed", || async {
        app.feeds_holding(&followers, &status).await == 0 && !app.in_redis_feed(&alice, &status).await
    })
    .await;
    assert!(!app.in_redis_feed(&bob, &status).await);
    expect_error(app.get(&url).await, StatusCode::NOT_FOUND).await;
    assert!(app.home_ids(&alice, "").await.is_empty());
}

#[tokio::test]
async fn a_duplicated_event_leaves_one_feed_entry() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.follow(&alice, &bob).await;
    app.wait_for_jobs("merge_follow", 1).await;
    let status = app.post_status(&bob, "once").await;
    app.wait_for_jobs("plan_fanout", 1).await;
    // the broker redelivers (or the relay republishes) the same event twice more
    let event = Event::StatusCreated {
        status_id: status["id"].as_str().unwrap().parse().unwrap(),
        account_id: bob.id.parse().unwrap(),
    };
    let publisher = Publisher::new(&app.conn.amqp_url, "test", app.conn.topology());
    publisher.publish(&event).await.unwrap();
    publisher.publish(&event).await.unwrap();
    app.wait_for_jobs("plan_fanout", 3).await;
    let feed = app.deps.cache.feed_ids(tusk_cache::Feed::Home(alice.id.parse().unwrap())).await.unwrap();
    assert_eq!(feed.iter().filter(|id| id.to_string() == status["id"].as_str().unwrap()).count(), 1);
    assert_eq!(app.home_ids(&alice, "").await.len(), 1);
}

#[tokio::test]
async fn a_message_that_keeps_failing_is_retried_then_parked_and_counted() {
    let app = TestApp::spawn_with(|worker| {
        worker.topology.retry_delays = vec![Duration::from_millis(50), Duration::from_millis(100)];
    })
    .await;
    let topology = app.conn.topology();
    let connection = tusk_queue::connect(&app.conn.amqp_url, "test").await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .basic_publish(
            "".into(),
            topology.fanout_queue.as_str().into(),
            BasicPublishOptions::default(),
            b"{\"type\": \"no_such_event\"}",
            BasicProperties::default(),
        )
        .await
        .unwrap();
    let parked = Topology::parked_queue(&topology.fanout_queue);
    eventually("the message to be parked", || async {
        Topology::messages_ready(&channel, &parked).await.unwrap() == 1
    })
    .await;
    let metrics = app.metrics(&app.worker_admin).await;
    let series = format!("tusk_jobs_parked_total{{queue=\"{}\"}}", topology.fanout_queue);
    assert_eq!(metric_value(&metrics, &series), 1);
    assert_eq!(Topology::messages_ready(&channel, &topology.fanout_queue).await.unwrap(), 0);
}

async fn relation(
    app: &TestApp,
    user: &crate::helpers::User,
    target: &crate::helpers::User,
    action: &str,
) -> Value {
    let url = app.url(&format!("/api/v1/accounts/{}/{action}", target.id));
    let response = app.http.post(url).bearer_auth(&user.token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{action}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_block_ends_both_follows_and_cleans_both_homes() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    app.follow(&bob, &alice).await;
    app.wait_for_jobs("merge_follow", 2).await;
    let from_bob = app.post_status(&bob, "from bob").await["id"].as_str().unwrap().to_owned();
    let from_alice = app.post_status(&alice, "from alice").await["id"].as_str().unwrap().to_owned();
    eventually("fan-out both ways", || async {
        app.in_redis_feed(&alice, &from_bob).await && app.in_redis_feed(&bob, &from_alice).await
    })
    .await;

    let rel = relation(&app, &bob, &alice, "block").await;
    assert_eq!(rel["blocking"], true);
    assert_eq!(rel["following"], false);
    assert_eq!(rel["followed_by"], false);
    eventually("both homes cleaned", || async {
        !app.in_redis_feed(&alice, &from_bob).await && !app.in_redis_feed(&bob, &from_alice).await
    })
    .await;
    // and alice cannot follow her way back in
    assert_eq!(app.follow(&alice, &bob).await["following"], false);
    assert_eq!(app.follow(&alice, &bob).await["blocked_by"], true);
    assert_eq!(relation(&app, &bob, &alice, "unblock").await["blocking"], false);
}

#[tokio::test]
async fn a_mute_cleans_the_home_and_keeps_later_posts_out() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    let before = app.post_status(&bob, "before the mute").await["id"].as_str().unwrap().to_owned();
    eventually("fan-out", || async { app.in_redis_feed(&alice, &before).await }).await;

    let rel = relation(&app, &alice, &bob, "mute").await;
    assert_eq!(rel["muting"], true);
    assert_eq!(rel["following"], true, "a mute is not an unfollow");
    eventually("the muted post to leave", || async { !app.in_redis_feed(&alice, &before).await }).await;

    let after = app.post_status(&bob, "after the mute").await["id"].as_str().unwrap().to_owned();
    app.wait_for_jobs("plan_fanout", 2).await;
    assert!(app.in_redis_feed(&bob, &after).await);
    assert!(!app.in_redis_feed(&alice, &after).await, "the fan-out skips muters");
    assert_eq!(relation(&app, &alice, &bob, "unmute").await["muting"], false);
}

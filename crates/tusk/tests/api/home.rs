//! The whole path: sign up, follow, post, fan-out, home timeline, unfollow.

use reqwest::StatusCode;
use serde_json::Value;
use tusk_core::Id;

use crate::helpers::{TestApp, eventually, expect_error, metric_value};

#[tokio::test]
async fn a_followed_users_post_reaches_the_followers_home_and_leaves_it_on_unfollow() {
    let app = TestApp::spawn_with_quorum_queues().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;

    let relationship = app.follow(&alice, &bob).await;
    assert_eq!(relationship["following"], true);
    assert_eq!(relationship["id"], bob.id.as_str());
    // the follow's merge is done and alice's feed exists: only the fan-out can add the post
    app.wait_for_jobs("merge_follow", 1).await;
    assert!(app.home_ids(&alice, "").await.is_empty());

    let status = app.post_status(&bob, "Hello, fediverse").await;
    let status_id = status["id"].as_str().unwrap().to_owned();
    assert_eq!(status["content"], "<p>Hello, fediverse</p>");
    assert_eq!(status["account"]["id"], bob.id.as_str());

    eventually("the post in alice's feed", || async { app.in_redis_feed(&alice, &status_id).await }).await;
    assert_eq!(app.home_ids(&alice, "").await, vec![status_id.clone()]);
    assert!(app.home_ids(&bob, "").await.contains(&status_id), "the author sees the post in their own home");
    let home: Value = app.get_json(&alice.token, "/api/v1/timelines/home").await;
    assert_eq!(home[0]["account"]["username"], "bob");
    assert_eq!(home[0]["media_attachments"], serde_json::json!([]));

    let relationship = app.unfollow(&alice, &bob).await;
    assert_eq!(relationship["following"], false);
    eventually("the post to leave alice's home", || async {
        !app.home_ids(&alice, "").await.contains(&status_id)
    })
    .await;
    assert!(app.home_ids(&bob, "").await.contains(&status_id), "unfollowing leaves the author's home alone");

    let worker_metrics = app.metrics(&app.worker_admin).await;
    assert!(metric_value(&worker_metrics, "tusk_jobs_total{job=\"plan_fanout\",outcome=\"ok\"}") >= 1);
    assert!(metric_value(&worker_metrics, "tusk_fanout_deliveries_total") >= 2);
}

#[tokio::test]
async fn following_merges_the_accounts_earlier_posts() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let earlier = app.post_status(&bob, "before you followed").await["id"].as_str().unwrap().to_owned();
    // alice's feed exists (and is complete) before the follow, so the merge is what adds it
    assert!(app.home_ids(&alice, "").await.is_empty());
    app.follow(&alice, &bob).await;
    eventually("the merge", || async { app.home_ids(&alice, "").await.contains(&earlier) }).await;
}

#[tokio::test]
async fn a_home_feed_lost_from_redis_is_rebuilt_from_postgresql() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.follow(&alice, &bob).await;
    let first = app.post_status(&bob, "one").await["id"].as_str().unwrap().to_owned();
    let second = app.post_status(&alice, "two").await["id"].as_str().unwrap().to_owned();
    eventually("fan-out", || async { app.home_ids(&alice, "").await.len() == 2 }).await;

    // the feed is evicted: only this test's key, under this test's prefix
    let alice_id: Id = alice.id.parse().unwrap();
    let key = app.deps.cache.keys().home_feed(alice_id);
    let mut redis = redis::Client::open(app.conn.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let removed: i64 = redis::cmd("DEL").arg(&key).query_async(&mut redis).await.unwrap();
    assert_eq!(removed, 1);

    let before = metric_value(&app.metrics(&app.admin).await, "tusk_feed_regenerations_total");
    assert_eq!(app.home_ids(&alice, "").await, vec![second.clone(), first.clone()], "not an empty page");
    let after = metric_value(&app.metrics(&app.admin).await, "tusk_feed_regenerations_total");
    assert_eq!(after, before + 1);
    assert_eq!(
        app.deps.cache.feed_ids(tusk_cache::Feed::Home(alice_id)).await.unwrap().len(),
        2,
        "the feed is back in Redis"
    );

    // a fan-out into the missing key re-creates it partially: the read still rebuilds it whole
    let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut redis).await.unwrap();
    let third = app.post_status(&bob, "three").await["id"].as_str().unwrap().to_owned();
    eventually("fan-out", || async {
        app.deps
            .cache
            .feed_ids(tusk_cache::Feed::Home(alice_id))
            .await
            .unwrap()
            .iter()
            .any(|id| id.to_string() == third)
    })
    .await;
    assert_eq!(app.home_ids(&alice, "").await, vec![third, second, first]);
}

#[tokio::test]
async fn home_pages_by_limit_max_id_since_id_and_min_id() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(app.post_status(&alice, &format!("post {n}")).await["id"].as_str().unwrap().to_owned());
    }
    eventually("fan-out", || async { app.home_ids(&alice, "").await.len() == 5 }).await;
    ids.reverse(); // newest first

    assert_eq!(app.home_ids(&alice, "?limit=2").await, ids[0..2]);
    assert_eq!(app.home_ids(&alice, &format!("?limit=2&max_id={}", ids[1])).await, ids[2..4]);
    assert_eq!(app.home_ids(&alice, &format!("?since_id={}", ids[2])).await, ids[0..2]);
    assert_eq!(app.home_ids(&alice, &format!("?limit=2&min_id={}", ids[4])).await, ids[2..4]);
    // out-of-range limits are clamped, garbage limits fall back to the default
    assert_eq!(app.home_ids(&alice, "?limit=0").await.len(), 1);
    assert_eq!(app.home_ids(&alice, "?limit=500").await.len(), 5);
    assert_eq!(app.home_ids(&alice, "?limit=lots").await.len(), 5);
}

#[tokio::test]
async fn reading_home_needs_a_user_token_with_read() {
    let app = TestApp::spawn().await;
    let response = app.get(app.url("/api/v1/timelines/home")).await;
    expect_error(response, StatusCode::UNAUTHORIZED).await;
    let app_token = app.app_token().await;
    let response = app.get_as(app.url("/api/v1/timelines/home"), &app_token).await;
    let body = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["error"], "This method requires an authenticated user");
    let response = app.get_as(app.url("/api/v1/timelines/home"), "not-a-token").await;
    expect_error(response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn direct_statuses_stay_out_of_follower_homes() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    let response = app
        .http
        .post(app.url("/api/v1/statuses"))
        .bearer_auth(&bob.token)
        .form(&[("status", "just for me"), ("visibility", "direct")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let direct: Value = response.json().await.unwrap();
    assert_eq!(direct["visibility"], "direct");
    let public = app.post_status(&bob, "for everyone").await["id"].as_str().unwrap().to_owned();
    eventually("the public post", || async { app.in_redis_feed(&alice, &public).await }).await;
    assert_eq!(app.home_ids(&alice, "").await, vec![public]);
    // and nobody but the author can open it
    let url = app.url(&format!("/api/v1/statuses/{}", direct["id"].as_str().unwrap()));
    expect_error(app.get_as(&url, &alice.token).await, StatusCode::NOT_FOUND).await;
    assert_eq!(app.get_as(&url, &bob.token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_outbox_relay_publishes_what_the_api_did_not() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    // as if the api had crashed between its commit and its publish
    let text = tusk_core::StatusText::parse("written, never published").unwrap();
    let tusk_store::CreatedStatus::New(status, _event) = app
        .deps
        .store
        .create_status(&tusk_store::NewStatus {
            account_id: bob.id.parse().unwrap(),
            text: &text,
            spoiler_text: "",
            sensitive: Some(false),
            visibility: Some(tusk_core::Visibility::Public),
            language: None,
            in_reply_to: None,
            application_id: None,
            idempotency_key: None,
            mentions: &[],
            tags: &[],
            media_ids: &[],
        })
        .await
        .unwrap()
    else {
        panic!("a status without an Idempotency-Key is always new")
    };
    assert_eq!(app.deps.store.outbox_pending().await.unwrap(), 1);
    let id = status.id.to_string();
    eventually("the relayed post in alice's feed", || async { app.in_redis_feed(&alice, &id).await }).await;
    eventually("the outbox to drain", || async { app.deps.store.outbox_pending().await.unwrap() == 0 }).await;
    let worker_metrics = app.metrics(&app.worker_admin).await;
    assert!(metric_value(&worker_metrics, "tusk_outbox_published_total{publisher=\"relay\"}") >= 1);
}

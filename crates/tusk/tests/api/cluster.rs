//! The feed and cache code on a 3-master Redis Cluster: the same paths as on one Redis.

use crate::helpers::{Listening, TestApp, eventually};
use crate::streaming::next_sse_event;

#[tokio::test]
async fn the_whole_path_runs_on_a_redis_cluster() {
    let app = TestApp::spawn_on_cluster(|worker| worker.fanout_batch = 100).await;
    let (alice, bob) = app.alice_follows_bob().await;
    // 1,000 more followers: batches whose feeds spread over every slot range
    let followers = app.seed_followers(&bob.id, 1000).await;

    let status = app.post_status(&bob, "on a cluster").await["id"].as_str().unwrap().to_owned();
    eventually("fan-out on the cluster", || async {
        app.in_redis_feed(&alice, &status).await && app.feeds_holding(&followers, &status).await == 1000
    })
    .await;
    assert_eq!(app.home_ids(&alice, "").await, vec![status.clone()]);

    // a lost feed is rebuilt on the cluster too
    app.evict(&app.deps.cache.keys().home_feed(alice.id.parse().unwrap())).await;
    assert_eq!(app.home_ids(&alice, "").await, vec![status.clone()]);

    app.unfollow(&alice, &bob).await;
    eventually("unmerge on the cluster", || async { app.home_ids(&alice, "").await.is_empty() }).await;
}

#[tokio::test]
async fn hybrid_reads_merge_feeds_from_several_nodes() {
    let app = TestApp::spawn_on_cluster(|worker| worker.hybrid_threshold = 1).await;
    let alice = app.sign_up("alice").await;
    let stars = [app.sign_up("star1").await, app.sign_up("star2").await, app.sign_up("star3").await];
    for star in &stars {
        app.follow(&alice, star).await;
        app.seed_followers(&star.id, 1).await; // two followers each: over the threshold of 1
    }
    app.wait_for_jobs("merge_follow", 3).await;
    let mut posted = Vec::new();
    for star in stars.iter().chain(stars.iter()) {
        posted.push(app.post_status(star, "pulled").await["id"].as_str().unwrap().to_owned());
    }
    app.wait_for_jobs("plan_fanout", 6).await;
    posted.reverse();
    assert_eq!(app.home_ids(&alice, "").await, posted);
    assert_eq!(app.home_ids(&alice, &format!("?limit=2&max_id={}", posted[1])).await, posted[2..4]);
}

#[tokio::test]
async fn streaming_runs_on_a_redis_cluster() {
    let app = TestApp::spawn_on_cluster(|_| {}).await;
    let (alice, bob) = app.alice_follows_bob().await;
    let mut user = app.get_as(app.url("/api/v1/streaming/user"), &alice.token).await.bytes_stream();
    let mut public = app.get(app.url("/api/v1/streaming/public")).await.bytes_stream();
    app.wait_until_listening(Listening::User(&alice)).await;
    app.wait_until_listening(Listening::Timeline("public")).await;

    // the listener mark, the feed write and the PUBLISH land on different nodes
    let status = app.post_status(&bob, "across nodes").await["id"].as_str().unwrap().to_owned();
    let update: serde_json::Value = serde_json::from_str(&next_sse_event(&mut user, "update").await).unwrap();
    assert_eq!(update["id"], status.as_str());
    let update: serde_json::Value =
        serde_json::from_str(&next_sse_event(&mut public, "update").await).unwrap();
    assert_eq!(update["id"], status.as_str());

    let url = app.url(&format!("/api/v1/statuses/{status}"));
    assert!(app.http.delete(&url).bearer_auth(&bob.token).send().await.unwrap().status().is_success());
    assert_eq!(next_sse_event(&mut user, "delete").await, status);
}

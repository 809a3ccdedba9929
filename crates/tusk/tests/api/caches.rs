//! What the caches promise: a warm home read is a Redis read (no PostgreSQL statement at all),
//! answered from the api's near cache when nothing it reads changed (no Redis round trip),
//! and every write that changes a cached thing (a token's revocation, a mute or block, a count,
//! the reader's own favourites and reblogs) shows on the next request, on any replica.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tusk_cache::Feed;
use tusk_core::Id;

use crate::helpers::{Replica, TestApp, User, eventually, expect_error, metric_value};

/// Waits until the api's pool has handed out no connection for a while: the background work
/// of earlier requests (an activity write) is done.
async fn quiet(app: &TestApp) {
    let mut last = app.api_store.checkouts();
    let mut still = 0;
    eventually("the api's PostgreSQL work to settle", || {
        let now = app.api_store.checkouts();
        still = if now == last { still + 1 } else { 0 };
        last = now;
        async move { still >= 3 }
    })
    .await;
}

/// The connections the api took from its pool while serving `request`.
async fn checkouts_of<F: Future<Output = T>, T>(app: &TestApp, request: F) -> (u64, T) {
    let before = app.api_store.checkouts();
    let answer = request.await;
    (app.api_store.checkouts() - before, answer)
}

#[tokio::test]
async fn a_warm_home_read_issues_no_postgresql_statement() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    let mut posted = Vec::new();
    for n in 0..45 {
        posted.push(app.post_status(&bob, &format!("post {n}")).await["id"].as_str().unwrap().to_owned());
    }
    let alice_id: Id = alice.id.parse().unwrap();
    eventually("the 45 posts in alice's feed", || async {
        app.deps.cache.feed_ids(Feed::Home(alice_id)).await.unwrap().len() == 45
    })
    .await;
    let newest_first: Vec<String> = posted.iter().rev().cloned().collect();
    let pages = [
        ("?limit=20".to_owned(), newest_first[..20].to_vec()),
        ("?limit=40".to_owned(), newest_first[..40].to_vec()),
        (format!("?limit=20&max_id={}", newest_first[9]), newest_first[10..30].to_vec()),
        (format!("?limit=40&max_id={}", newest_first[0]), newest_first[1..41].to_vec()),
        (format!("?limit=20&min_id={}", posted[2]), posted[3..23].iter().rev().cloned().collect()),
        (format!("?limit=40&since_id={}", posted[30]), newest_first[..14].to_vec()),
    ];
    // alice's own doings are on her pages too, from Redis
    app.post_json_as(
        app.url(&format!("/api/v1/statuses/{}/favourite", newest_first[0])),
        &alice.token,
        &json!({}),
    )
    .await;
    // warm-up: the feed, the statuses, their authors and counts, alice's token, relationships
    for (query, expected) in &pages {
        assert_eq!(&app.home_ids(&alice, query).await, expected, "{query}");
    }
    quiet(&app).await;
    for (query, expected) in &pages {
        let (statements, page) = checkouts_of(&app, app.home_ids(&alice, query)).await;
        assert_eq!(&page, expected, "{query}");
        assert_eq!(statements, 0, "a warm home read ({query}) issued {statements} PostgreSQL statements");
    }
    // nothing changed since: the api's near cache answers every read without asking Redis
    let near = |metrics: &str, outcome: &str| {
        metric_value(metrics, &format!("tusk_redis_near_cache_total{{outcome=\"{outcome}\"}}"))
    };
    let before = app.metrics(&app.admin).await;
    for (query, expected) in &pages {
        assert_eq!(&app.home_ids(&alice, query).await, expected, "{query}");
    }
    let after = app.metrics(&app.admin).await;
    assert_eq!(near(&after, "miss"), near(&before, "miss"), "a warm home read asked Redis");
    // per page: token, feed marker and page, hidden, hybrid, statuses, counts, interactions, authors
    assert!(
        near(&after, "hit") >= near(&before, "hit") + 8 * pages.len() as u64,
        "near cache hits went from {} to {}",
        near(&before, "hit"),
        near(&after, "hit")
    );
    let (statements, page) =
        checkouts_of(&app, app.get_json(&alice.token, "/api/v1/timelines/home?limit=2")).await;
    assert_eq!(statements, 0);
    assert_eq!((page[0]["favourited"].clone(), page[1]["favourited"].clone()), (json!(true), json!(false)));
    // the counter counts: verify_credentials reads the account, the locale and the requests
    let (statements, _) =
        checkouts_of(&app, app.get_json(&alice.token, "/api/v1/accounts/verify_credentials")).await;
    assert!(statements >= 3, "the counter saw {statements} statements of verify_credentials");
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once_on_every_replica() {
    let app = TestApp::spawn().await;
    app.sign_up("alice").await;
    let (id, secret) = app.register_app().await;
    let token = app.password_token(&id, &secret, "alice", "read").await;
    let replica = Replica::start(&app, &app.conn, |_| {}).await;
    let verify = "/api/v1/accounts/verify_credentials";
    // both replicas know the token, and it is cached in Redis
    for base in [&app.base, &replica.base] {
        let response = app.get_as(format!("{base}{verify}"), &token).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let key = app.deps.cache.keys().token(&tusk_core::token::digest(&token));
    let mut redis = tusk_cache::RedisConnection::open(&app.conn.redis_url).await.unwrap();
    let cached: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut redis).await.unwrap();
    assert!(cached.is_some_and(|row| row.contains("\"scopes\":\"read\"")), "the token is not cached");
    assert!(!key.contains(&token), "the key holds the token itself");

    let revoked = app
        .http
        .post(app.url("/oauth/revoke"))
        .form(&[("client_id", id.as_str()), ("client_secret", secret.as_str()), ("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    expect_error(app.get_as(replica.url(verify), &token).await, StatusCode::UNAUTHORIZED).await;
    expect_error(app.get_as(app.url(verify), &token).await, StatusCode::UNAUTHORIZED).await;
}

async fn post(app: &TestApp, user: &User, path: &str, body: &Value) -> Value {
    let response = app.post_json_as(app.url(path), &user.token, body).await;
    assert_eq!(response.status(), StatusCode::OK, "POST {path}");
    response.json().await.unwrap()
}

/// Without a worker, nothing cleans alice's feed after a mute or a block: only the read
/// filters, and the page is still filled to its limit.
#[tokio::test]
async fn hidden_entries_do_not_shorten_a_home_page() {
    let app = TestApp::spawn_api_only().await;
    let alice = app.sign_up("alice").await;
    let (bob, carol, dave) =
        (app.sign_up("bob").await, app.sign_up("carol").await, app.sign_up("dave").await);
    let (mut bobs, mut feed) = (Vec::new(), Vec::new());
    for n in 0..12 {
        let id = app.post_status(&bob, &format!("bob {n}")).await["id"].as_str().unwrap().to_owned();
        bobs.push(id.clone());
        feed.push(id);
        for author in [&carol, &carol, &dave] {
            feed.push(app.post_status(author, &format!("{n}")).await["id"].as_str().unwrap().to_owned());
        }
    }
    // alice's home holds them all, as a fan-out would have left them
    let ids: Vec<Id> = feed.iter().map(|id| id.parse().unwrap()).collect();
    app.deps.cache.store_rebuilt_feed(Feed::Home(alice.id.parse().unwrap()), &ids).await.unwrap();
    let newest_first: Vec<String> = feed.iter().rev().cloned().collect();
    assert_eq!(app.home_ids(&alice, "?limit=10").await, newest_first[..10]);

    // a mute by alice and a block of alice hide them from the next read on
    post(&app, &alice, &format!("/api/v1/accounts/{}/mute", carol.id), &json!({})).await;
    post(&app, &dave, &format!("/api/v1/accounts/{}/block", alice.id), &json!({})).await;
    let bobs_newest: Vec<String> = bobs.iter().rev().cloned().collect();
    assert_eq!(app.home_ids(&alice, "?limit=10").await, bobs_newest[..10]);
    let older = app.home_ids(&alice, &format!("?limit=10&max_id={}", bobs_newest[9])).await;
    assert_eq!(older, bobs_newest[10..]);
    let newer = app.home_ids(&alice, &format!("?limit=5&min_id={}", bobs[0])).await;
    assert_eq!(newer, bobs_newest[6..11]);

    post(&app, &alice, &format!("/api/v1/accounts/{}/unmute", carol.id), &json!({})).await;
    let page = app.home_ids(&alice, "?limit=40").await;
    assert_eq!(page.len(), 36, "bob's and carol's, not dave's");
}

/// Counts of `status` as a signed-out reader sees them (from the cache when warm).
async fn counts(app: &TestApp, status: &str) -> (i64, i64, i64) {
    let body: Value = app.get(app.url(&format!("/api/v1/statuses/{status}"))).await.json().await.unwrap();
    let count = |name: &str| body[name].as_i64().unwrap();
    (count("replies_count"), count("reblogs_count"), count("favourites_count"))
}

#[tokio::test]
async fn counts_stay_right_with_warm_caches() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    let carol = app.sign_up("carol").await;
    let status = app.post_status(&bob, "count me").await["id"].as_str().unwrap().to_owned();
    let action = |user: &User, action: &str| {
        let path = format!("/api/v1/statuses/{status}/{action}");
        let token = user.token.clone();
        let app = &app;
        async move {
            let response = app.post_json_as(app.url(&path), token, &json!({})).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(counts(&app, &status).await, (0, 0, 0));
    assert_eq!(counts(&app, &status).await, (0, 0, 0));

    assert_eq!(action(&alice, "favourite").await["favourites_count"], 1);
    assert_eq!(action(&alice, "favourite").await["favourites_count"], 1, "twice is once");
    assert_eq!(counts(&app, &status).await, (0, 0, 1));
    assert_eq!(action(&carol, "favourite").await["favourites_count"], 2);
    assert_eq!(action(&alice, "unfavourite").await["favourites_count"], 1);
    assert_eq!(counts(&app, &status).await, (0, 0, 1));

    let reblog = action(&alice, "reblog").await;
    assert_eq!(reblog["reblog"]["reblogs_count"], 1);
    assert_eq!(counts(&app, &status).await, (0, 1, 1));
    assert_eq!(action(&alice, "unreblog").await["reblogs_count"], 0);
    assert_eq!(counts(&app, &status).await, (0, 0, 1));
    let carols = action(&carol, "reblog").await["id"].as_str().unwrap().to_owned();
    assert_eq!(counts(&app, &status).await, (0, 1, 1));
    let deleted = app.http.delete(app.url(&format!("/api/v1/statuses/{carols}"))).bearer_auth(&carol.token);
    assert_eq!(deleted.send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(counts(&app, &status).await, (0, 0, 1));

    let reply =
        post(&app, &alice, "/api/v1/statuses", &json!({ "status": "yes", "in_reply_to_id": status })).await;
    assert_eq!(counts(&app, &status).await, (1, 0, 1));
    // the home timeline shows the same counts
    eventually("the counted post in alice's home", || async {
        let home = app.get_json(&alice.token, "/api/v1/timelines/home").await;
        home.as_array().unwrap().iter().any(|s| s["id"] == status.as_str() && s["replies_count"] == 1)
    })
    .await;
    let reply = reply["id"].as_str().unwrap();
    let deleted = app.http.delete(app.url(&format!("/api/v1/statuses/{reply}"))).bearer_auth(&alice.token);
    assert_eq!(deleted.send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(counts(&app, &status).await, (0, 0, 1));
    let home = app.get_json(&alice.token, "/api/v1/timelines/home").await;
    let shown = home.as_array().unwrap().iter().find(|s| s["id"] == status.as_str()).cloned().unwrap();
    assert_eq!((&shown["replies_count"], &shown["favourites_count"]), (&json!(0), &json!(1)));
}

/// `favourited` and `reblogged` on the reader's pages come from its cached interactions: each of
/// its favourites, reblogs and their undoing shows on its next read, on any replica.
#[tokio::test]
async fn the_readers_favourites_and_reblogs_show_on_its_next_read_on_any_replica() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    let first = app.post_status(&bob, "first").await["id"].as_str().unwrap().to_owned();
    let second = app.post_status(&bob, "second").await["id"].as_str().unwrap().to_owned();
    eventually("both posts in alice's home", || async { app.home_ids(&alice, "").await.len() == 2 }).await;
    let replica = Replica::start(&app, &app.conn, |_| {}).await;
    let flags = |base: String| {
        let alice = &alice;
        let (first, second) = (first.clone(), second.clone());
        let app = &app;
        async move {
            let response = app.get_as(format!("{base}/api/v1/timelines/home"), &alice.token).await;
            let page: Value = response.json().await.unwrap();
            let of = |id: &str| {
                let status =
                    page.as_array().unwrap().iter().find(|s| s["id"] == id || s["reblog"]["id"] == id);
                let status = status.map(|s| if s["reblog"].is_object() { &s["reblog"] } else { s }).unwrap();
                (status["favourited"].as_bool().unwrap(), status["reblogged"].as_bool().unwrap())
            };
            (of(&first), of(&second))
        }
    };
    // both replicas have read alice's interactions (none) into Redis
    for base in [app.base.clone(), replica.base.clone()] {
        assert_eq!(flags(base).await, ((false, false), (false, false)));
    }
    let empty = json!({});
    let act = |id: &str, action: &str| {
        app.post_json_as(app.url(&format!("/api/v1/statuses/{id}/{action}")), &alice.token, &empty)
    };
    assert_eq!(act(&first, "favourite").await.status(), StatusCode::OK);
    assert_eq!(flags(replica.base.clone()).await, ((true, false), (false, false)));
    assert_eq!(act(&second, "reblog").await.status(), StatusCode::OK);
    assert_eq!(flags(replica.base.clone()).await, ((true, false), (false, true)));
    assert_eq!(flags(app.base.clone()).await, ((true, false), (false, true)));
    assert_eq!(act(&first, "unfavourite").await.status(), StatusCode::OK);
    assert_eq!(act(&second, "unreblog").await.status(), StatusCode::OK);
    assert_eq!(flags(replica.base.clone()).await, ((false, false), (false, false)));
}

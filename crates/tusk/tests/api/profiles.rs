//! Account lookup, relationships, followers/following pages, profile updates and the
//! registrations modes: the good and the bad.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tusk_core::Registrations;

use crate::helpers::{Replica, TestApp, expect_error};

#[tokio::test]
async fn lookup_finds_local_accounts_only() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("Alice").await;
    let domain = app.base.trim_start_matches("http://");
    for acct in ["alice", "Alice", "@alice", &format!("alice@{domain}"), &format!("@Alice@{domain}")] {
        let response = lookup(&app, acct).await;
        assert_eq!(response.status(), StatusCode::OK, "{acct}");
        let account: Value = response.json().await.unwrap();
        assert_eq!(account["id"], alice.id.as_str());
    }
    for acct in ["nobody", "alice@elsewhere.example", "al ice", "@", "alice@"] {
        let response = lookup(&app, acct).await;
        expect_error(response, StatusCode::NOT_FOUND).await;
    }
    expect_error(app.get(app.url("/api/v1/accounts/lookup")).await, StatusCode::BAD_REQUEST).await;
    expect_error(app.get(app.url("/api/v1/accounts/lookup?acct=")).await, StatusCode::BAD_REQUEST).await;
}

async fn lookup(app: &TestApp, acct: &str) -> reqwest::Response {
    app.http.get(app.url("/api/v1/accounts/lookup")).query(&[("acct", acct)]).send().await.unwrap()
}

#[tokio::test]
async fn relationships_come_in_request_order_and_skip_unknown_ids() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    app.follow(&alice, &bob).await;
    app.follow(&carol, &alice).await;
    let path = format!("/api/v1/accounts/relationships?id[]={}&id[]=nope&id[]=1&id[]={}", carol.id, bob.id);
    let rels: Value = app.get_json(&alice.token, &path).await;
    let rels = rels.as_array().unwrap();
    assert_eq!(rels.len(), 2);
    assert_eq!(rels[0]["id"], carol.id.as_str());
    assert_eq!((rels[0]["following"].as_bool(), rels[0]["followed_by"].as_bool()), (Some(false), Some(true)));
    assert_eq!(rels[1]["id"], bob.id.as_str());
    assert_eq!((rels[1]["following"].as_bool(), rels[1]["followed_by"].as_bool()), (Some(true), Some(false)));
    // a single id without brackets, and none at all
    let one: Value =
        app.get_json(&alice.token, &format!("/api/v1/accounts/relationships?id={}", bob.id)).await;
    assert_eq!(one[0]["following"], true);
    let none: Value = app.get_json(&alice.token, "/api/v1/accounts/relationships").await;
    assert_eq!(none, json!([]));
    // a user's token is needed
    expect_error(app.get(app.url("/api/v1/accounts/relationships?id=1")).await, StatusCode::UNAUTHORIZED)
        .await;
    let app_token = app.app_token().await;
    let response = app.get_as(app.url("/api/v1/accounts/relationships?id=1"), &app_token).await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
}

fn links(response: &reqwest::Response) -> Option<String> {
    response.headers().get("link").map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn followers_and_following_are_paged_with_link_headers() {
    let app = TestApp::spawn().await;
    let star = app.sign_up("star").await;
    let mut fans = Vec::new();
    for name in ["f1", "f2", "f3"] {
        let fan = app.sign_up(name).await;
        app.follow(&fan, &star).await;
        fans.push(fan);
    }
    let base = app.url(&format!("/api/v1/accounts/{}/followers", star.id));
    // newest follow first
    let response = app.get(format!("{base}?limit=2")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let link = links(&response).expect("Link header");
    let page: Value = response.json().await.unwrap();
    let ids: Vec<&str> = page.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [fans[2].id.as_str(), fans[1].id.as_str()]);
    let (next, prev) = link.split_once(", ").unwrap();
    assert!(next.ends_with("; rel=\"next\"") && next.contains("limit=2&max_id="), "{link}");
    assert!(prev.ends_with("; rel=\"prev\"") && prev.contains("limit=2&since_id="), "{link}");
    let next_url = next.trim_start_matches('<').split_once('>').unwrap().0;
    assert!(next_url.starts_with(&base), "{next_url}");
    // the next page holds the last one, and no next link: it is not full
    let response = app.get(next_url).await;
    let link = links(&response).expect("Link header");
    assert!(!link.contains("rel=\"next\"") && link.contains("rel=\"prev\""), "{link}");
    let page: Value = response.json().await.unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["id"], fans[0].id.as_str());
    // the prev link of the first page finds nothing newer: no Link at all
    let prev_url = prev.trim_start_matches('<').split_once('>').unwrap().0;
    let response = app.get(prev_url).await;
    assert!(links(&response).is_none());
    assert_eq!(response.json::<Value>().await.unwrap(), json!([]));
    // following, default limit
    let following: Value =
        app.get_json(&star.token, &format!("/api/v1/accounts/{}/following", fans[0].id)).await;
    assert_eq!(following[0]["id"], star.id.as_str());
    assert_eq!(following.as_array().unwrap().len(), 1);
    // limit is clamped, garbage limit is the default
    for query in ["limit=1000", "limit=0", "limit=abc"] {
        let response = app.get(format!("{base}?{query}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
    }
    // bad ids
    for path in
        ["/api/v1/accounts/abc/followers", "/api/v1/accounts/1/following", "/api/v1/accounts/-5/followers"]
    {
        expect_error(app.get(app.url(path)).await, StatusCode::NOT_FOUND).await;
    }
    expect_error(app.get(format!("{base}?max_id=xyz")).await, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn a_block_hides_the_blockers_follows_from_the_blocked() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    app.follow(&carol, &alice).await;
    let response = app
        .http
        .post(app.url(&format!("/api/v1/accounts/{}/block", bob.id)))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen_by_bob: Value =
        app.get_json(&bob.token, &format!("/api/v1/accounts/{}/followers", alice.id)).await;
    assert_eq!(seen_by_bob, json!([]));
    let seen_by_carol: Value =
        app.get_json(&carol.token, &format!("/api/v1/accounts/{}/followers", alice.id)).await;
    assert_eq!(seen_by_carol.as_array().unwrap().len(), 1);
}

fn patch_credentials(app: &TestApp, token: &str) -> reqwest::RequestBuilder {
    app.http.patch(app.url("/api/v1/accounts/update_credentials")).bearer_auth(token)
}

#[tokio::test]
async fn update_credentials_takes_json_form_and_multipart_and_refreshes_the_cache() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    // cached now
    let before: Value = app.get_json(&alice.token, &format!("/api/v1/accounts/{}", alice.id)).await;
    assert_eq!(before["display_name"], "");

    let response = patch_credentials(&app, &alice.token)
        .json(&json!({ "display_name": "Alice 🐘", "note": "hello https://example.org", "locked": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["display_name"], "Alice 🐘");
    assert_eq!(me["locked"], true);
    assert_eq!(me["source"]["note"], "hello https://example.org");
    assert!(me["note"].as_str().unwrap().starts_with("<p>"));
    let after: Value = app.get_json(&alice.token, &format!("/api/v1/accounts/{}", alice.id)).await;
    assert_eq!(after["display_name"], "Alice 🐘", "the cached account was not refreshed");

    let response = patch_credentials(&app, &alice.token)
        .form(&[("locked", "false"), ("display_name", "Form")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!((me["display_name"].as_str(), me["locked"].as_bool()), (Some("Form"), Some(false)));
    assert_eq!(me["source"]["note"], "hello https://example.org", "an absent field is left alone");

    let form = reqwest::multipart::Form::new().text("note", "multi");
    let response = patch_credentials(&app, &alice.token).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!((me["display_name"].as_str(), me["source"]["note"].as_str()), (Some("Form"), Some("multi")));
}

#[tokio::test]
async fn update_credentials_refuses_bad_input_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let response = patch_credentials(&app, &alice.token)
        .json(&json!({ "display_name": "x".repeat(31), "note": "n".repeat(501), "locked": true }))
        .send()
        .await
        .unwrap();
    let body = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["details"]["display_name"][0]["error"], "ERR_TOO_LONG");
    assert_eq!(body["details"]["note"][0]["error"], "ERR_TOO_LONG");
    assert_eq!(
        body["error"],
        "Validation failed: Display name is too long (maximum is 30 characters), Note character limit of 500 exceeded"
    );
    let me: Value = app.get_json(&alice.token, "/api/v1/accounts/verify_credentials").await;
    assert_eq!((me["display_name"].as_str(), me["locked"].as_bool()), (Some(""), Some(false)));
    // 30 emoji are 30 characters; a long URL in the note counts 23
    let response = patch_credentials(&app, &alice.token)
        .json(&json!({ "display_name": "🐘".repeat(30), "note": format!("https://example.org/{}", "a".repeat(600)) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = patch_credentials(&app, &alice.token)
        .header("content-type", "text/plain")
        .body("display_name=x")
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let response = patch_credentials(&app, &alice.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::BAD_REQUEST).await;
    let response =
        patch_credentials(&app, &alice.token).json(&json!({ "display_name": 5 })).send().await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST).await;
    let response = app
        .http
        .patch(app.url("/api/v1/accounts/update_credentials"))
        .json(&json!({ "display_name": "anon" }))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED).await;
}

/// A second api on `app`'s database, Redis and queues, with its own registrations mode.
async fn api_with(app: &TestApp, registrations: Registrations) -> Replica {
    Replica::start(app, &app.conn, |settings| settings.registrations = registrations).await
}

fn sign_up_body(username: &str) -> Value {
    json!({ "username": username, "email": format!("{username}@example.org"), "password": "correct horse", "agreement": true, "locale": "en" })
}

#[tokio::test]
async fn closed_registrations_refuse_sign_ups() {
    let app = TestApp::spawn().await;
    let closed = api_with(&app, Registrations::Closed).await;
    let token = app.app_token().await;
    let response =
        app.post_json_as(format!("{}/api/v1/accounts", closed.base), &token, &sign_up_body("alice")).await;
    let body = expect_error(response, StatusCode::FORBIDDEN).await;
    assert_eq!(body["error"], "This action is not allowed");
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM accounts").fetch_one(app.deps.store.pool()).await.unwrap();
    assert_eq!(count, 0);
    let v1: Value =
        app.http.get(format!("{}/api/v1/instance", closed.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (v1["registrations"].as_bool(), v1["approval_required"].as_bool()),
        (Some(false), Some(false))
    );
    let v2: Value =
        app.http.get(format!("{}/api/v2/instance", closed.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(v2["registrations"]["enabled"], false);
    // the open one says so
    let v2: Value = app.get(app.url("/api/v2/instance")).await.json().await.unwrap();
    assert_eq!(
        (v2["registrations"]["enabled"].as_bool(), v2["registrations"]["approval_required"].as_bool()),
        (Some(true), Some(false))
    );
}

#[tokio::test]
async fn approved_registrations_hold_the_account_until_approved() {
    let app = TestApp::spawn().await;
    let approved = api_with(&app, Registrations::Approved).await;
    let v1: Value = app
        .http
        .get(format!("{}/api/v1/instance", approved.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((v1["registrations"].as_bool(), v1["approval_required"].as_bool()), (Some(true), Some(true)));
    let token = app.app_token().await;
    let response =
        app.post_json_as(format!("{}/api/v1/accounts", approved.base), &token, &sign_up_body("alice")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let user_token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let response = app.get_as(app.url("/api/v1/accounts/verify_credentials"), &user_token).await;
    let body = expect_error(response, StatusCode::FORBIDDEN).await;
    assert_eq!(body["error"], "Your login is currently pending approval");
    let response =
        app.post_json_as(app.url("/api/v1/statuses"), &user_token, &json!({ "status": "hi" })).await;
    expect_error(response, StatusCode::FORBIDDEN).await;
    // a moderator approves
    sqlx::query("UPDATE users SET approved = true").execute(app.deps.store.pool()).await.unwrap();
    let response = app.get_as(app.url("/api/v1/accounts/verify_credentials"), &user_token).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn sign_up_checks_the_locale_and_the_status_length_as_mastodon() {
    let app = TestApp::spawn().await;
    let token = app.app_token().await;
    let mut body = sign_up_body("alice");
    body["locale"] = json!("not a locale");
    let response = app.post_json_as(app.url("/api/v1/accounts"), &token, &body).await;
    let error = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error["details"]["locale"][0]["error"], "ERR_INCLUSION");
    let alice = app.sign_up("alice").await;
    // 20 long URLs count 23 each: 479 characters
    let long = format!("https://example.org/{}", "a".repeat(100));
    let text = vec![long.as_str(); 20].join(" ");
    app.post_status(&alice, &text).await;
    let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
    app.post_status(&alice, &family.repeat(500)).await;
    let response = app
        .post_json_as(app.url("/api/v1/statuses"), &alice.token, &json!({ "status": family.repeat(501) }))
        .await;
    let error = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error["error"], "Validation failed: Text character limit of 500 exceeded");
}

async fn relate(app: &TestApp, user: &crate::helpers::User, target: &crate::helpers::User, action: &str) {
    let response = app
        .http
        .post(app.url(&format!("/api/v1/accounts/{}/{action}", target.id)))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{action}");
}

#[tokio::test]
async fn a_mute_or_block_keeps_posts_out_of_home_at_once_and_after_a_rebuild() {
    for action in ["mute", "block"] {
        let app = TestApp::spawn().await;
        let (alice, bob) = app.alice_follows_bob().await;
        // the control: a follower of bob who neither mutes nor blocks him
        let carol = app.sign_up("carol").await;
        app.follow(&carol, &bob).await;
        app.wait_for_jobs("merge_follow", 2).await;
        let status = app.post_status(&bob, "from bob").await;
        let id = status["id"].as_str().unwrap().to_owned();
        crate::helpers::eventually("the fan-out", || async { app.in_redis_feed(&alice, &id).await }).await;
        relate(&app, &alice, &bob, action).await;
        // filtered on read, whether or not the workers have cleaned the feed yet
        assert!(!app.home_ids(&alice, "").await.contains(&id), "{action}: shown right after");
        crate::helpers::eventually("the feed cleaned", || async { !app.in_redis_feed(&alice, &id).await })
            .await;
        // and a feed rebuilt from PostgreSQL leaves them out too
        let key = app.deps.cache.keys().home_feed(alice.id.parse().unwrap());
        let mut conn = tusk_cache::RedisConnection::open(&app.conn.redis_url).await.unwrap();
        let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut conn).await.unwrap();
        assert!(!app.home_ids(&alice, "").await.contains(&id), "{action}: back after a rebuild");
        assert!(!app.in_redis_feed(&alice, &id).await, "{action}: back in the rebuilt feed");
        // bob posts again: once its fan-out is over (carol has it, the plan job is done), alice's
        // feed does not; reads filter bob out anyway, so only her feed in Redis shows a delivery
        let later = app.post_status(&bob, "again").await;
        let later = later["id"].as_str().unwrap().to_owned();
        crate::helpers::eventually("the control follower's delivery", || async {
            app.in_redis_feed(&carol, &later).await
        })
        .await;
        app.wait_for_jobs("plan_fanout", 2).await;
        assert!(!app.in_redis_feed(&alice, &later).await, "{action}: delivered after");
        assert!(!app.home_ids(&alice, "").await.contains(&later), "{action}: shown after");
    }
}

//! Locked accounts: a follow becomes a request that the account authorizes (then it is a follow
//! like any other: merged into the follower's home, fanned out to it) or rejects, as in Mastodon.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, User, eventually, expect_error, metric_value};

/// A user token of `username` holding exactly `scopes`, through the password grant of an app
/// that may ask for `read write follow push`.
pub async fn user_token_with_scopes(app: &TestApp, username: &str, scopes: &str) -> String {
    let response = app
        .http
        .post(app.url("/api/v1/apps"))
        .form(&[
            ("client_name", "scoped"),
            ("redirect_uris", "urn:ietf:wg:oauth:2.0:oob"),
            ("scopes", "read write follow push"),
        ])
        .send()
        .await
        .unwrap();
    let client: Value = response.json().await.unwrap();
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", client["client_id"].as_str().unwrap()),
            ("client_secret", client["client_secret"].as_str().unwrap()),
            ("username", username),
            ("password", crate::helpers::sign_up_form(username)["password"].as_str().unwrap()),
            ("scope", scopes),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "a {scopes:?} token for {username}");
    let token: Value = response.json().await.unwrap();
    assert_eq!(token["scope"], scopes);
    token["access_token"].as_str().unwrap().to_owned()
}

async fn lock(app: &TestApp, user: &User, locked: bool) {
    let response = app
        .http
        .patch(app.url("/api/v1/accounts/update_credentials"))
        .bearer_auth(&user.token)
        .json(&json!({ "locked": locked }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["locked"], locked);
}

async fn post(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.http.post(app.url(path)).bearer_auth(token).send().await.unwrap()
}

async fn answer(app: &TestApp, user: &User, follower: &User, action: &str) -> reqwest::Response {
    post(app, &user.token, &format!("/api/v1/follow_requests/{}/{action}", follower.id)).await
}

/// The ids of the accounts on `user`'s first page of follow requests.
async fn requesters(app: &TestApp, user: &User) -> Vec<String> {
    let page = app.get_json(&user.token, "/api/v1/follow_requests").await;
    page.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect()
}

async fn relationship(app: &TestApp, user: &User, other: &User) -> Value {
    let rels = app.get_json(&user.token, &format!("/api/v1/accounts/relationships?id[]={}", other.id)).await;
    rels[0].clone()
}

async fn request_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM follow_requests").fetch_one(app.deps.store.pool()).await.unwrap()
}

#[tokio::test]
async fn an_authorized_request_is_a_follow_with_its_merge_and_fan_out() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    lock(&app, &bob, true).await;
    let before = app.post_status(&bob, "before the request").await;
    let response = app
        .post_json_as(
            app.url("/api/v1/statuses"),
            &bob.token,
            &json!({ "status": "followers only, zebra-7731", "visibility": "private" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let private: Value = response.json().await.unwrap();

    // the follow waits; asking twice changes nothing
    for _ in 0..2 {
        let rel = app.follow(&alice, &bob).await;
        assert_eq!((rel["following"].as_bool(), rel["requested"].as_bool()), (Some(false), Some(true)));
    }
    assert_eq!(request_rows(&app).await, 1);
    assert_eq!(relationship(&app, &alice, &bob).await["requested"], true);
    let seen_by_bob = relationship(&app, &bob, &alice).await;
    assert_eq!(
        (seen_by_bob["requested_by"].as_bool(), seen_by_bob["followed_by"].as_bool()),
        (Some(true), Some(false))
    );
    let me = app.get_json(&bob.token, "/api/v1/accounts/verify_credentials").await;
    assert_eq!(me["source"]["follow_requests_count"], 1);
    assert_eq!(me["followers_count"], 0);
    // a request shows nothing that a follow would
    assert!(app.home_ids(&alice, "").await.is_empty());
    let path = format!("/api/v1/statuses/{}", private["id"].as_str().unwrap());
    let response = app.get_as(app.url(&path), &alice.token).await;
    let body = expect_error(response, StatusCode::NOT_FOUND).await;
    assert!(!body.to_string().contains("zebra-7731"));

    assert_eq!(requesters(&app, &bob).await, [alice.id.as_str()]);
    assert!(requesters(&app, &alice).await.is_empty());

    let response = answer(&app, &bob, &alice, "authorize").await;
    assert_eq!(response.status(), StatusCode::OK);
    let rel: Value = response.json().await.unwrap();
    assert_eq!(rel["id"], alice.id.as_str());
    assert_eq!((rel["followed_by"].as_bool(), rel["requested_by"].as_bool()), (Some(true), Some(false)));
    let rel = relationship(&app, &alice, &bob).await;
    assert_eq!((rel["following"].as_bool(), rel["requested"].as_bool()), (Some(true), Some(false)));
    assert_eq!(request_rows(&app).await, 0);
    assert!(requesters(&app, &bob).await.is_empty());
    let me = app.get_json(&bob.token, "/api/v1/accounts/verify_credentials").await;
    assert_eq!(
        (me["source"]["follow_requests_count"].as_i64(), me["followers_count"].as_i64()),
        (Some(0), Some(1))
    );

    // the same path as a follow: bob's earlier statuses are merged, his next ones fanned out
    app.wait_for_jobs("merge_follow", 1).await;
    let home = app.home_ids(&alice, "").await;
    assert!(home.contains(&before["id"].as_str().unwrap().to_owned()), "{home:?}");
    assert_eq!(app.get_as(app.url(&path), &alice.token).await.status(), StatusCode::OK);
    let after = app.post_status(&bob, "after the follow").await;
    let after_id = after["id"].as_str().unwrap().to_owned();
    eventually("bob's next status in alice's feed", || async { app.in_redis_feed(&alice, &after_id).await })
        .await;

    // answering again: there is no request any more
    expect_error(answer(&app, &bob, &alice, "authorize").await, StatusCode::NOT_FOUND).await;
    // following an account one already follows stays a follow, locked or not
    assert_eq!(app.follow(&alice, &bob).await["following"], true);
    assert_eq!(request_rows(&app).await, 0);
}

#[tokio::test]
async fn rejected_withdrawn_and_foreign_requests_make_no_follow() {
    let app = TestApp::spawn().await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    let dave = app.sign_up("dave").await;
    let eve = app.sign_up("eve").await;
    lock(&app, &bob, true).await;
    app.follow(&carol, &bob).await;
    app.follow(&dave, &bob).await;

    // eve cannot answer requests addressed to bob, nor see them
    for action in ["authorize", "reject"] {
        let body = expect_error(answer(&app, &eve, &carol, action).await, StatusCode::NOT_FOUND).await;
        assert_eq!(body["error"], "Record not found");
    }
    assert!(requesters(&app, &eve).await.is_empty());
    assert_eq!(request_rows(&app).await, 2);
    // nor can the one who asked answer its own request
    expect_error(answer(&app, &carol, &carol, "authorize").await, StatusCode::NOT_FOUND).await;
    // an id that names nobody, or is no id
    let response = post(&app, &bob.token, "/api/v1/follow_requests/123/authorize").await;
    expect_error(response, StatusCode::NOT_FOUND).await;
    let response = post(&app, &bob.token, "/api/v1/follow_requests/nope/reject").await;
    expect_error(response, StatusCode::NOT_FOUND).await;

    let response = answer(&app, &bob, &carol, "reject").await;
    assert_eq!(response.status(), StatusCode::OK);
    let rel: Value = response.json().await.unwrap();
    assert_eq!((rel["followed_by"].as_bool(), rel["requested_by"].as_bool()), (Some(false), Some(false)));
    let rel = relationship(&app, &carol, &bob).await;
    assert_eq!((rel["following"].as_bool(), rel["requested"].as_bool()), (Some(false), Some(false)));
    expect_error(answer(&app, &bob, &carol, "authorize").await, StatusCode::NOT_FOUND).await;

    // unfollow withdraws a pending request
    let rel = app.unfollow(&dave, &bob).await;
    assert_eq!((rel["following"].as_bool(), rel["requested"].as_bool()), (Some(false), Some(false)));
    assert!(requesters(&app, &bob).await.is_empty());
    assert_eq!(request_rows(&app).await, 0);
    let follows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM follows").fetch_one(app.deps.store.pool()).await.unwrap();
    assert_eq!(follows, 0);
    let jobs = metric_value(
        &app.metrics(&app.worker_admin).await,
        "tusk_jobs_total{job=\"merge_follow\",outcome=\"ok\"}",
    );
    assert_eq!(jobs, 0, "no follow, no merge");

    // a block ends a pending request both ways
    app.follow(&carol, &bob).await;
    assert_eq!(
        post(&app, &bob.token, &format!("/api/v1/accounts/{}/block", carol.id)).await.status(),
        StatusCode::OK
    );
    assert_eq!(request_rows(&app).await, 0);
}

#[tokio::test]
async fn follow_requests_need_a_user_token_with_the_follows_scopes() {
    let app = TestApp::spawn().await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    lock(&app, &bob, true).await;
    app.follow(&carol, &bob).await;
    let list = "/api/v1/follow_requests";
    let authorize = format!("/api/v1/follow_requests/{}/authorize", carol.id);

    expect_error(app.get(app.url(list)).await, StatusCode::UNAUTHORIZED).await;
    expect_error(app.http.post(app.url(&authorize)).send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
    let app_token = app.app_token().await;
    let body =
        expect_error(app.get_as(app.url(list), &app_token).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["error"], "This method requires an authenticated user");
    expect_error(post(&app, &app_token, &authorize).await, StatusCode::UNPROCESSABLE_ENTITY).await;

    // reading needs read:follows (or read, or follow); answering write:follows (or write, or follow)
    let statuses_only = user_token_with_scopes(&app, "bob", "read:statuses write:statuses").await;
    let body = expect_error(app.get_as(app.url(list), &statuses_only).await, StatusCode::FORBIDDEN).await;
    assert_eq!(body["error"], "This action is outside the authorized scopes");
    let read_follows = user_token_with_scopes(&app, "bob", "read:follows").await;
    assert_eq!(app.get_as(app.url(list), &read_follows).await.status(), StatusCode::OK);
    expect_error(post(&app, &read_follows, &authorize).await, StatusCode::FORBIDDEN).await;
    let reject = format!("/api/v1/follow_requests/{}/reject", carol.id);
    expect_error(post(&app, &read_follows, &reject).await, StatusCode::FORBIDDEN).await;
    assert_eq!(request_rows(&app).await, 1, "a refused answer changed nothing");
    let follow = user_token_with_scopes(&app, "bob", "follow").await;
    assert_eq!(app.get_as(app.url(list), &follow).await.status(), StatusCode::OK);
    let write_follows = user_token_with_scopes(&app, "bob", "write:follows").await;
    assert_eq!(post(&app, &write_follows, &authorize).await.status(), StatusCode::OK);
    assert_eq!(relationship(&app, &carol, &bob).await["following"], true);
}

#[tokio::test]
async fn follow_requests_are_paged_with_link_headers() {
    let app = TestApp::spawn().await;
    let star = app.sign_up("star").await;
    lock(&app, &star, true).await;
    let mut fans = Vec::new();
    for name in ["f1", "f2", "f3"] {
        let fan = app.sign_up(name).await;
        app.follow(&fan, &star).await;
        fans.push(fan);
    }
    let response = app.get_as(app.url("/api/v1/follow_requests?limit=2"), &star.token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    let page: Value = response.json().await.unwrap();
    let ids: Vec<&str> = page.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [fans[2].id.as_str(), fans[1].id.as_str()], "newest request first");
    let next = link.split(", ").find(|l| l.ends_with("rel=\"next\"")).expect("a next link");
    assert!(link.contains("rel=\"prev\""), "{link}");
    let next_url = next.trim_start_matches('<').split('>').next().unwrap();
    assert!(next_url.starts_with(&app.url("/api/v1/follow_requests?limit=2&max_id=")), "{next_url}");
    let page: Value = app.get_as(next_url, &star.token).await.json().await.unwrap();
    let ids: Vec<&str> = page.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [fans[0].id.as_str()]);
}

#[tokio::test]
async fn unlocking_lets_the_waiting_accounts_in() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    lock(&app, &bob, true).await;
    let earlier = app.post_status(&bob, "posted while locked").await;
    assert_eq!(app.follow(&alice, &bob).await["requested"], true);
    lock(&app, &bob, false).await;
    let rel = relationship(&app, &alice, &bob).await;
    assert_eq!((rel["following"].as_bool(), rel["requested"].as_bool()), (Some(true), Some(false)));
    assert_eq!(request_rows(&app).await, 0);
    app.wait_for_jobs("merge_follow", 1).await;
    assert!(app.home_ids(&alice, "").await.contains(&earlier["id"].as_str().unwrap().to_owned()));
    // an unlocked account is followed at once again
    let carol = app.sign_up("carol").await;
    assert_eq!(app.follow(&carol, &bob).await["following"], true);
}

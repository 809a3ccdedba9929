//! Sign-up, verify_credentials, account lookup, follow and unfollow: the good and the bad.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_error, metric_value};

async fn account_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM accounts").fetch_one(app.deps.store.pool()).await.unwrap()
}

async fn sign_up_with(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.post_json_as(app.url("/api/v1/accounts"), token, &body).await
}

fn good(username: &str) -> Value {
    json!({ "username": username, "email": format!("{username}@example.org"), "password": "correct horse", "agreement": true })
}

#[tokio::test]
async fn sign_up_returns_a_working_user_token() {
    let app = TestApp::spawn().await;
    let user = app.sign_up("Alice_1").await;
    let me: Value = app.get_json(&user.token, "/api/v1/accounts/verify_credentials").await;
    assert_eq!(me["username"], "Alice_1");
    assert_eq!(me["acct"], "Alice_1");
    assert_eq!(me["source"]["language"], "en");
    assert_eq!(me["followers_count"], 0);
    assert!(me["created_at"].as_str().unwrap().ends_with("T00:00:00.000Z"));
    let public: Value = app.get_json(&user.token, &format!("/api/v1/accounts/{}", user.id)).await;
    assert_eq!(public["id"], user.id.as_str());
    assert!(public.get("source").is_none(), "source is for the owner only");
    let metrics = app.metrics(&app.admin).await;
    assert_eq!(metric_value(&metrics, "tusk_signups_total{outcome=\"created\"}"), 1);
}

#[tokio::test]
async fn sign_up_validation_reports_every_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let token = app.app_token().await;
    let response = sign_up_with(
        &app,
        &token,
        json!({ "username": "no spaces", "email": "not-an-email", "password": "short", "agreement": false }),
    )
    .await;
    let body = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["details"]["username"][0]["error"], "ERR_INVALID");
    assert_eq!(body["details"]["email"][0]["error"], "ERR_INVALID");
    assert_eq!(body["details"]["password"][0]["error"], "ERR_TOO_SHORT");
    assert_eq!(body["details"]["agreement"][0]["error"], "ERR_ACCEPTED");
    assert!(body["error"].as_str().unwrap().starts_with("Validation failed: "));

    let cases = [
        (
            json!({ "email": "a@example.org", "password": "correct horse", "agreement": true }),
            "username",
            "ERR_BLANK",
        ),
        (
            json!({ "username": "x".repeat(31), "email": "a@example.org", "password": "correct horse", "agreement": true }),
            "username",
            "ERR_TOO_LONG",
        ),
        (
            json!({ "username": "a", "email": "a@example.org", "password": "correct horse" }),
            "agreement",
            "ERR_ACCEPTED",
        ),
        (
            json!({ "username": "a", "email": "", "password": "correct horse", "agreement": true }),
            "email",
            "ERR_BLANK",
        ),
        (
            json!({ "username": "a", "email": "a@example.org", "password": "x".repeat(73), "agreement": true }),
            "password",
            "ERR_TOO_LONG",
        ),
        (
            json!({ "username": "admin", "email": "a@example.org", "password": "correct horse", "agreement": true }),
            "username",
            "ERR_RESERVED",
        ),
    ];
    for (body, field, code) in cases {
        let response = sign_up_with(&app, &token, body.clone()).await;
        let error = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["details"][field][0]["error"], code, "{body}");
    }
    assert_eq!(account_count(&app).await, 0, "nothing half-written");
    let metrics = app.metrics(&app.admin).await;
    assert_eq!(metric_value(&metrics, "tusk_signups_total{outcome=\"invalid\"}"), 7);
}

#[tokio::test]
async fn usernames_and_emails_are_taken_case_insensitively() {
    let app = TestApp::spawn().await;
    let token = app.app_token().await;
    assert_eq!(sign_up_with(&app, &token, good("carol")).await.status(), StatusCode::OK);
    let response = sign_up_with(
        &app,
        &token,
        json!({ "username": "CAROL", "email": "Carol@Example.org", "password": "correct horse", "agreement": true }),
    )
    .await;
    let body = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["details"]["username"][0]["error"], "ERR_TAKEN");
    assert_eq!(body["details"]["email"][0]["error"], "ERR_TAKEN");
    assert_eq!(account_count(&app).await, 1);
}

#[tokio::test]
async fn concurrent_sign_ups_for_one_name_create_one_account() {
    let app = TestApp::spawn().await;
    let token = app.app_token().await;
    let attempts = (0..4).map(|i| {
        let body = json!({ "username": "dave", "email": format!("dave{i}@example.org"), "password": "correct horse", "agreement": true });
        sign_up_with(&app, &token, body)
    });
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(attempts).await.iter().map(reqwest::Response::status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{statuses:?}"
    );
    assert_eq!(account_count(&app).await, 1);
}

#[tokio::test]
async fn sign_up_needs_an_app_token_with_write_accounts() {
    let app = TestApp::spawn().await;
    let response = app.http.post(app.url("/api/v1/accounts")).json(&good("erin")).send().await.unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED).await;
    let response = sign_up_with(&app, "bogus-token", good("erin")).await;
    expect_error(response, StatusCode::UNAUTHORIZED).await;
    // a token of an app registered with `read` only
    let app_json: Value = app
        .http
        .post(app.url("/api/v1/apps"))
        .json(&json!({ "client_name": "reader", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token: Value = app
        .http
        .post(app.url("/oauth/token"))
        .json(&json!({ "grant_type": "client_credentials", "client_id": app_json["client_id"], "client_secret": app_json["client_secret"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = sign_up_with(&app, token["access_token"].as_str().unwrap(), good("erin")).await;
    let body = expect_error(response, StatusCode::FORBIDDEN).await;
    assert_eq!(body["error"], "This action is outside the authorized scopes");
    assert_eq!(account_count(&app).await, 0);
}

#[tokio::test]
async fn sign_up_accepts_form_and_multipart_bodies() {
    let app = TestApp::spawn().await;
    let token = app.app_token().await;
    let form = app
        .http
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&token)
        .form(&[
            ("username", "frank"),
            ("email", "frank@example.org"),
            ("password", "correct horse"),
            ("agreement", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let multipart = reqwest::multipart::Form::new()
        .text("username", "grace")
        .text("email", "grace@example.org")
        .text("password", "correct horse")
        .text("agreement", "true");
    let response = app
        .http
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&token)
        .multipart(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(account_count(&app).await, 2);
}

#[tokio::test]
async fn malformed_bodies_are_a_400_not_a_500() {
    let app = TestApp::spawn().await;
    let token = app.app_token().await;
    let response = app
        .http
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::BAD_REQUEST).await;
    let response = app
        .http
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, 0x00])
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::BAD_REQUEST).await;
    let response = app
        .http
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("[1, 2, 3]")
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(account_count(&app).await, 0);
}

#[tokio::test]
async fn unknown_accounts_are_404_and_self_follow_is_403() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    for path in ["/api/v1/accounts/12345", "/api/v1/accounts/abc", "/api/v1/accounts/-1"] {
        let response = app.get(app.url(path)).await;
        let body = expect_error(response, StatusCode::NOT_FOUND).await;
        assert_eq!(body["error"], "Record not found");
    }
    let response = app
        .http
        .post(app.url("/api/v1/accounts/12345/follow"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::NOT_FOUND).await;
    let response = app
        .http
        .post(app.url(&format!("/api/v1/accounts/{}/follow", alice.id)))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::FORBIDDEN).await;
    let follows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM follows").fetch_one(app.deps.store.pool()).await.unwrap();
    assert_eq!(follows, 0);
}

#[tokio::test]
async fn follow_is_idempotent_and_counts_follow_it() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    // bob is read once, so its account is cached before the counts change
    let before: Value = app.get_json(&alice.token, &format!("/api/v1/accounts/{}", bob.id)).await;
    assert_eq!(before["followers_count"], 0);
    app.follow(&alice, &bob).await;
    let again = app.follow(&alice, &bob).await;
    assert_eq!(again["following"], true);
    let back = app.follow(&bob, &alice).await;
    assert_eq!(back["followed_by"], true);
    let after: Value = app.get_json(&alice.token, &format!("/api/v1/accounts/{}", bob.id)).await;
    assert_eq!(after["followers_count"], 1);
    assert_eq!(after["following_count"], 1);
    let unfollowed = app.unfollow(&alice, &bob).await;
    assert_eq!(unfollowed["following"], false);
    let again = app.unfollow(&alice, &bob).await;
    assert_eq!(again["following"], false);
}

#[tokio::test]
async fn a_wrong_method_gets_a_json_405() {
    let app = TestApp::spawn_api_only().await;
    let response = app.http.delete(app.url("/api/v1/timelines/home")).send().await.unwrap();
    let body = expect_error(response, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(body["error"], "Method not allowed");
}

#[tokio::test]
async fn the_instance_counts_users_posts_and_active_users() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    app.post_status(&alice, "one").await;
    let first = app.post_status(&bob, "two").await;
    let reblog = app
        .http
        .post(app.url(&format!("/api/v1/statuses/{}/reblog", first["id"].as_str().unwrap())))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(reblog.status(), StatusCode::OK);
    // carol has not been seen for two months, and a user waiting for approval is not counted
    let pool = app.deps.store.pool();
    sqlx::query("UPDATE users SET last_active_at = now() - interval '60 days' WHERE account_id = $1")
        .bind(carol.id.parse::<i64>().unwrap())
        .execute(pool)
        .await
        .unwrap();
    let dave = app.sign_up("dave").await;
    app.hold_for_approval(&[&dave]).await;

    let v1: Value = app.get(app.url("/api/v1/instance")).await.json().await.unwrap();
    assert_eq!(v1["stats"]["user_count"], 3, "{v1}");
    assert_eq!(v1["stats"]["status_count"], 2, "reblogs are not posts: {v1}");
    let v2: Value = app.get(app.url("/api/v2/instance")).await.json().await.unwrap();
    assert_eq!(v2["usage"]["users"]["active_month"], 2, "{v2}");

    // the counts are kept a minute per replica: a new user shows later, not at once
    app.sign_up("erin").await;
    let v1: Value = app.get(app.url("/api/v1/instance")).await.json().await.unwrap();
    assert_eq!(v1["stats"]["user_count"], 3);
}

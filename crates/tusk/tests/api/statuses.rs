//! Posting and reading single statuses.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_error, metric_value};

async fn status_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM statuses").fetch_one(app.deps.store.pool()).await.unwrap()
}

#[tokio::test]
async fn a_status_renders_like_mastodons() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let response = app.post_json_as(app.url("/api/v1/statuses"), &alice.token, &json!({ "status": "<b>hi</b>\n\nsecond", "spoiler_text": "cw", "language": "en", "visibility": "unlisted" })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let status: Value = response.json().await.unwrap();
    let id = status["id"].as_str().unwrap();
    assert!(id.parse::<i64>().is_ok(), "ids are decimal strings");
    assert_eq!(status["content"], "<p>&lt;b&gt;hi&lt;/b&gt;</p><p>second</p>");
    assert_eq!(status["spoiler_text"], "cw");
    assert_eq!(status["sensitive"], true);
    assert_eq!(status["visibility"], "unlisted");
    assert_eq!(status["language"], "en");
    assert_eq!(status["application"]["name"], "tests");
    assert!(status["uri"].as_str().unwrap().ends_with(&format!("/users/alice/statuses/{id}")));
    assert!(status["url"].as_str().unwrap().ends_with(&format!("/@alice/{id}")));
    chrono::DateTime::parse_from_rfc3339(status["created_at"].as_str().unwrap()).expect("RFC 3339");
    for empty in ["media_attachments", "mentions", "tags", "emojis"] {
        assert_eq!(status[empty], json!([]), "{empty}");
    }
    assert_eq!(status["account"]["statuses_count"], 1);

    // anyone may read it, with or without a token, and sees the same status
    let fetched: Value = app.get(app.url(&format!("/api/v1/statuses/{id}"))).await.json().await.unwrap();
    assert_eq!(fetched["id"], id);
    assert_eq!(fetched["content"], status["content"]);
    let metrics = app.metrics(&app.admin).await;
    assert_eq!(metric_value(&metrics, "tusk_statuses_created_total"), 1);
}

#[tokio::test]
async fn posting_accepts_form_and_multipart_bodies() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let form = app
        .http
        .post(app.url("/api/v1/statuses"))
        .bearer_auth(&alice.token)
        .form(&[("status", "form post")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let multipart =
        reqwest::multipart::Form::new().text("status", "multipart post").text("sensitive", "true");
    let response = app
        .http
        .post(app.url("/api/v1/statuses"))
        .bearer_auth(&alice.token)
        .multipart(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["content"], "<p>multipart post</p>");
    assert_eq!(status["sensitive"], true);
}

#[tokio::test]
async fn bad_statuses_are_refused_and_not_stored() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let post =
        |body: Value| app.http.post(app.url("/api/v1/statuses")).bearer_auth(&alice.token).json(&body).send();

    let body =
        expect_error(post(json!({ "status": "   " })).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["error"], "Validation failed: Text can't be blank");
    expect_error(post(json!({})).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
    let body = expect_error(
        post(json!({ "status": "x".repeat(501) })).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"], "Validation failed: Text character limit of 500 exceeded");
    expect_error(
        post(json!({ "status": "hi", "visibility": "secret" })).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_error(
        post(json!({ "status": "hi", "in_reply_to_id": "12345" })).await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(status_count(&app).await, 0);
    let outbox: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(app.deps.store.pool()).await.unwrap();
    assert_eq!(outbox, 0, "no event without its status");

    // exactly 500 characters (multi-byte ones too) is fine
    assert_eq!(post(json!({ "status": "é".repeat(500) })).await.unwrap().status(), StatusCode::OK);
    assert_eq!(status_count(&app).await, 1);
}

#[tokio::test]
async fn posting_needs_a_user_token_with_write() {
    let app = TestApp::spawn().await;
    let body = json!({ "status": "hi" });
    let response = app.http.post(app.url("/api/v1/statuses")).json(&body).send().await.unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED).await;
    let app_token = app.app_token().await;
    let response = app.post_json_as(app.url("/api/v1/statuses"), &app_token, &body).await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;

    // a user token limited to reading
    let alice = app.sign_up("alice").await;
    let (client_id, secret) = app.register_app().await;
    let token: Value = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("username", "alice@example.org"),
            ("password", "correct horse battery"),
            ("scope", "read"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let read_only = token["access_token"].as_str().unwrap();
    let response = app.post_json_as(app.url("/api/v1/statuses"), read_only, &body).await;
    expect_error(response, StatusCode::FORBIDDEN).await;
    // but it reads
    assert_eq!(app.get_as(app.url("/api/v1/timelines/home"), read_only).await.status(), StatusCode::OK);
    assert_eq!(status_count(&app).await, 0);
    drop(alice);
}

#[tokio::test]
async fn unknown_statuses_are_404() {
    let app = TestApp::spawn().await;
    for path in ["/api/v1/statuses/99999", "/api/v1/statuses/nope"] {
        let body = expect_error(app.get(app.url(path)).await, StatusCode::NOT_FOUND).await;
        assert_eq!(body["error"], "Record not found");
    }
    expect_error(app.get(app.url("/api/v1/no/such/route")).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn private_statuses_are_for_followers() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let response = app
        .post_json_as(
            app.url("/api/v1/statuses"),
            &bob.token,
            &json!({ "status": "followers only", "visibility": "private" }),
        )
        .await;
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let url = app.url(&format!("/api/v1/statuses/{id}"));
    expect_error(app.get(&url).await, StatusCode::NOT_FOUND).await;
    expect_error(app.get_as(&url, &alice.token).await, StatusCode::NOT_FOUND).await;
    app.follow(&alice, &bob).await;
    assert_eq!(app.get_as(&url, &alice.token).await.status(), StatusCode::OK);
}

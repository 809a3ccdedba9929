//! Posting and reading single statuses.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, expect_error, metric_value};

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

/// Polls and scheduling come with later issues: until then a post asking for them is refused
/// with a clear 422 (a scheduled post must not go out at once), as is an attachment that does
/// not exist (a photo post must not become a text post), and nothing is posted; the empty values
/// apps send with text posts pass.
#[tokio::test]
async fn unknown_media_polls_and_schedules_are_refused() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let statuses = app.url("/api/v1/statuses");
    let refused = [
        (json!({ "status": "a photo", "media_ids": ["110000000000000001"] }), "Media attachment"),
        (json!({ "status": "a poll", "poll": { "options": ["yes", "no"], "expires_in": 3600 } }), "Polls"),
        (json!({ "status": "later", "scheduled_at": "2030-01-01T00:00:00Z" }), "Scheduled statuses"),
    ];
    for (body, what) in refused {
        let response = app.http.post(&statuses).bearer_auth(&alice.token).json(&body).send().await.unwrap();
        let error = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(error["error"].as_str().unwrap().starts_with(what), "{error}");
    }
    // as a form sends them
    for form in [
        vec![("status", "a photo"), ("media_ids[]", "110000000000000001")],
        vec![
            ("status", "a poll"),
            ("poll[options][]", "yes"),
            ("poll[options][]", "no"),
            ("poll[expires_in]", "60"),
        ],
    ] {
        let response = app.http.post(&statuses).bearer_auth(&alice.token).form(&form).send().await.unwrap();
        expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    assert_eq!(status_count(&app).await, 0);
    let text = json!({ "status": "just text", "media_ids": [], "poll": null, "scheduled_at": null });
    let response = app.http.post(&statuses).bearer_auth(&alice.token).json(&text).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
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

async fn post_as(app: &TestApp, token: &str, body: &Value, key: Option<&str>) -> reqwest::Response {
    let mut request = app.http.post(app.url("/api/v1/statuses")).bearer_auth(token).json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn deleting_returns_the_source_and_takes_the_status_out_of_every_feed() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    let status = app.post_status(&bob, "oops <typo>").await;
    let id = status["id"].as_str().unwrap().to_owned();
    eventually("the post in alice's feed", || async { app.in_redis_feed(&alice, &id).await }).await;
    let url = app.url(&format!("/api/v1/statuses/{id}"));

    // someone else's status cannot be deleted, and is not told apart from a missing one
    let response = app.http.delete(&url).bearer_auth(&alice.token).send().await.unwrap();
    expect_error(response, StatusCode::NOT_FOUND).await;
    let response = app.http.delete(&url).send().await.unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(status_count(&app).await, 1);

    let response = app.http.delete(&url).bearer_auth(&bob.token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let deleted: Value = response.json().await.unwrap();
    assert_eq!(deleted["id"], id.as_str());
    assert_eq!(deleted["text"], "oops <typo>");
    assert_eq!(deleted["content"], status["content"]);

    eventually("the post out of alice's feed", || async { !app.in_redis_feed(&alice, &id).await }).await;
    eventually("the post out of bob's feed", || async { !app.in_redis_feed(&bob, &id).await }).await;
    assert!(app.home_ids(&alice, "").await.is_empty());
    expect_error(app.get(&url).await, StatusCode::NOT_FOUND).await;
    let public = app.get(app.url("/api/v1/timelines/public")).await.json::<Value>().await.unwrap();
    assert_eq!(public, json!([]));
    // again, or an id that is not one
    let response = app.http.delete(&url).bearer_auth(&bob.token).send().await.unwrap();
    expect_error(response, StatusCode::NOT_FOUND).await;
    let response =
        app.http.delete(app.url("/api/v1/statuses/abc")).bearer_auth(&bob.token).send().await.unwrap();
    expect_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(status_count(&app).await, 0);
}

#[tokio::test]
async fn an_idempotency_key_returns_the_original_status() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let body = json!({ "status": "once" });
    let first: Value = post_as(&app, &alice.token, &body, Some("key-1")).await.json().await.unwrap();
    let again: Value = post_as(&app, &alice.token, &body, Some("key-1")).await.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(again["content"], "<p>once</p>");
    assert_eq!(status_count(&app).await, 1);
    // another key, or the same key of another account, is another status
    let other: Value = post_as(&app, &alice.token, &body, Some("key-2")).await.json().await.unwrap();
    assert_ne!(other["id"], first["id"]);
    let bobs: Value = post_as(&app, &bob.token, &body, Some("key-1")).await.json().await.unwrap();
    assert_ne!(bobs["id"], first["id"]);
    assert_eq!(status_count(&app).await, 3);

    // the key is stored with the status in PostgreSQL (its sha256, never the key itself), so
    // every replica finds it, and it outlives a crash after the commit and a Redis flush (both
    // in the fault tests)
    let alice_id: i64 = alice.id.parse().unwrap();
    let held: i64 = sqlx::query_scalar(
        "SELECT status_id FROM status_idempotency_keys WHERE account_id = $1 AND key_digest = $2",
    )
    .bind(alice_id)
    .bind(tusk_core::token::digest("key-1"))
    .fetch_one(app.deps.store.pool())
    .await
    .unwrap();
    assert_eq!(held.to_string(), first["id"].as_str().unwrap());

    // a key names its status for an hour, as in Mastodon: then it is free again, and the
    // workers delete it
    sqlx::query(
        "UPDATE status_idempotency_keys SET created_at = now() - interval '61 minutes' WHERE account_id = $1",
    )
    .bind(alice_id)
    .execute(app.deps.store.pool())
    .await
    .unwrap();
    let later: Value = post_as(&app, &alice.token, &body, Some("key-1")).await.json().await.unwrap();
    assert_ne!(later["id"], first["id"]);
    assert_eq!(status_count(&app).await, 4);
    app.deps.store.expire_idempotency_keys().await.unwrap();
    let kept: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT key_digest FROM status_idempotency_keys WHERE account_id = $1")
            .bind(alice_id)
            .fetch_all(app.deps.store.pool())
            .await
            .unwrap();
    assert_eq!(kept, [tusk_core::token::digest("key-1")], "key-2 was over an hour old: deleted");
    let again: Value = post_as(&app, &alice.token, &body, Some("key-1")).await.json().await.unwrap();
    assert_eq!(again["id"], later["id"], "the renewed key-1 was kept");

    // a failed request does not hold its key
    let response = post_as(&app, &alice.token, &json!({ "status": "" }), Some("key-3")).await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let response =
        post_as(&app, &alice.token, &json!({ "status": "x", "in_reply_to_id": "1" }), Some("key-3")).await;
    expect_error(response, StatusCode::NOT_FOUND).await;
    let response = post_as(&app, &alice.token, &json!({ "status": "now" }), Some("key-3")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(status_count(&app).await, 5);

    // a retry for a status deleted since gets 404, as in Mastodon
    let id = later["id"].as_str().unwrap();
    let deleted = app
        .http
        .delete(app.url(&format!("/api/v1/statuses/{id}")))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    expect_error(post_as(&app, &alice.token, &body, Some("key-1")).await, StatusCode::NOT_FOUND).await;
    assert_eq!(status_count(&app).await, 4);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_status() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let body = json!({ "status": "racing" });
    let responses =
        futures_util::future::join_all((0..8).map(|_| post_as(&app, &alice.token, &body, Some("same"))))
            .await;
    let mut ids = Vec::new();
    for response in responses {
        assert_eq!(response.status(), StatusCode::OK);
        ids.push(response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(status_count(&app).await, 1);
}

#[tokio::test]
async fn replies_need_a_visible_parent_and_name_its_author() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let parent = app.post_status(&bob, "question").await["id"].as_str().unwrap().to_owned();
    let response =
        post_as(&app, &alice.token, &json!({ "status": "answer", "in_reply_to_id": parent }), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["in_reply_to_id"], parent.as_str());
    assert_eq!(reply["in_reply_to_account_id"], bob.id.as_str());
    let fetched: Value = app
        .get(app.url(&format!("/api/v1/statuses/{}", reply["id"].as_str().unwrap())))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["in_reply_to_account_id"], bob.id.as_str());

    // bob's followers-only and direct statuses cannot be replied to by a stranger
    for visibility in ["private", "direct"] {
        let hidden =
            post_as(&app, &bob.token, &json!({ "status": "hidden", "visibility": visibility }), None)
                .await
                .json::<Value>()
                .await
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
        let response =
            post_as(&app, &alice.token, &json!({ "status": "hm", "in_reply_to_id": hidden }), None).await;
        expect_error(response, StatusCode::NOT_FOUND).await;
    }
    let response =
        post_as(&app, &alice.token, &json!({ "status": "hm", "in_reply_to_id": "nope" }), None).await;
    assert!(response.status().is_client_error());
    assert_eq!(status_count(&app).await, 4);
}

#[tokio::test]
async fn direct_statuses_reach_only_the_author_and_private_ones_only_followers() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    let carol = app.sign_up("carol").await;
    let direct = post_as(&app, &bob.token, &json!({ "status": "dm", "visibility": "direct" }), None)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let private = post_as(&app, &bob.token, &json!({ "status": "fo", "visibility": "private" }), None)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("the private post in alice's feed", || async { app.in_redis_feed(&alice, &private).await })
        .await;
    assert!(app.in_redis_feed(&bob, &direct).await);
    assert!(!app.in_redis_feed(&alice, &direct).await);
    assert_eq!(app.home_ids(&alice, "").await, vec![private.clone()]);
    assert!(app.home_ids(&carol, "").await.is_empty());
    assert_eq!(app.home_ids(&bob, "").await, vec![private.clone(), direct.clone()]);
    for (id, viewer, visible) in
        [(&direct, &alice, false), (&private, &alice, true), (&private, &carol, false)]
    {
        let response = app.get_as(app.url(&format!("/api/v1/statuses/{id}")), &viewer.token).await;
        assert_eq!(response.status() == StatusCode::OK, visible, "{id}");
    }
}

//! Reblogs, favourites and threads.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, User, eventually, expect_error};

pub(crate) async fn act(app: &TestApp, user: &User, id: &str, action: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/api/v1/statuses/{id}/{action}")))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap()
}

async fn post(app: &TestApp, user: &User, body: Value) -> String {
    let response = app.post_json_as(app.url("/api/v1/statuses"), &user.token, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn favourites_count_and_show_for_the_viewer() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let id = post(&app, &bob, json!({ "status": "like me" })).await;
    for _ in 0..2 {
        let response = act(&app, &alice, &id, "favourite").await;
        assert_eq!(response.status(), StatusCode::OK);
        let status: Value = response.json().await.unwrap();
        assert_eq!(status["favourited"], true);
        assert_eq!(status["favourites_count"], 1);
    }
    let seen_by_bob: Value = app.get_json(&bob.token, &format!("/api/v1/statuses/{id}")).await;
    assert_eq!(seen_by_bob["favourites_count"], 1);
    assert_eq!(seen_by_bob["favourited"], false);
    let status: Value = act(&app, &alice, &id, "unfavourite").await.json().await.unwrap();
    assert_eq!(status["favourited"], false);
    assert_eq!(status["favourites_count"], 0);

    expect_error(act(&app, &alice, "nope", "favourite").await, StatusCode::NOT_FOUND).await;
    expect_error(act(&app, &alice, "12345", "favourite").await, StatusCode::NOT_FOUND).await;
    let hidden = post(&app, &bob, json!({ "status": "mine", "visibility": "private" })).await;
    expect_error(act(&app, &alice, &hidden, "favourite").await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn reblogs_wrap_the_original_and_reach_followers_once() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    let carol = app.sign_up("carol").await;
    let dave = app.sign_up("dave").await;
    let original = post(&app, &carol, json!({ "status": "worth sharing" })).await;

    let response = act(&app, &bob, &original, "reblog").await;
    assert_eq!(response.status(), StatusCode::OK);
    let reblog: Value = response.json().await.unwrap();
    let reblog_id = reblog["id"].as_str().unwrap().to_owned();
    assert_ne!(reblog_id, original);
    assert_eq!(reblog["account"]["id"], bob.id.as_str());
    assert_eq!(reblog["reblog"]["id"], original.as_str());
    assert_eq!(reblog["reblog"]["reblogged"], true);
    assert_eq!(reblog["reblog"]["reblogs_count"], 1);
    // reblogging again gives the same reblog
    let again: Value = act(&app, &bob, &original, "reblog").await.json().await.unwrap();
    assert_eq!(again["id"], reblog_id.as_str());

    eventually("the reblog in alice's home", || async { app.in_redis_feed(&alice, &reblog_id).await }).await;
    let home: Value = app.get_json(&alice.token, "/api/v1/timelines/home").await;
    assert_eq!(home[0]["id"], reblog_id.as_str());
    assert_eq!(home[0]["reblog"]["content"], "<p>worth sharing</p>");
    // not on the public timeline
    let public: Value = app.get(app.url("/api/v1/timelines/public")).await.json().await.unwrap();
    assert_eq!(public.as_array().unwrap().len(), 1);
    assert_eq!(public[0]["id"], original.as_str());

    // alice follows dave too; dave's reblog of the same original, right after, is not a second copy
    app.follow(&alice, &dave).await;
    app.wait_for_jobs("merge_follow", 2).await;
    let dave_reblog: Value = act(&app, &dave, &original, "reblog").await.json().await.unwrap();
    let dave_reblog = dave_reblog["id"].as_str().unwrap().to_owned();
    eventually("dave's reblog in his own home", || async { app.in_redis_feed(&dave, &dave_reblog).await })
        .await;
    app.wait_for_jobs("plan_fanout", 3).await;
    assert!(!app.in_redis_feed(&alice, &dave_reblog).await, "a second copy of the original");

    // unreblog: answers with the original and takes the reblog out of the feeds
    let response = act(&app, &bob, &original, "unreblog").await;
    assert_eq!(response.status(), StatusCode::OK);
    let unreblogged: Value = response.json().await.unwrap();
    assert_eq!(unreblogged["id"], original.as_str());
    assert_eq!(unreblogged["reblogged"], false);
    assert_eq!(unreblogged["reblogs_count"], 1, "dave's reblog remains");
    eventually("the reblog out of alice's home", || async { !app.in_redis_feed(&alice, &reblog_id).await })
        .await;

    // private statuses are reblogged by their author alone; direct ones never
    let private = post(&app, &carol, json!({ "status": "fo", "visibility": "private" })).await;
    app.follow(&bob, &carol).await;
    expect_error(act(&app, &bob, &private, "reblog").await, StatusCode::FORBIDDEN).await;
    let own: Value = act(&app, &carol, &private, "reblog").await.json().await.unwrap();
    assert_eq!(own["visibility"], "private");
    let direct = post(&app, &carol, json!({ "status": "dm", "visibility": "direct" })).await;
    expect_error(act(&app, &carol, &direct, "reblog").await, StatusCode::FORBIDDEN).await;
    expect_error(act(&app, &bob, "nope", "reblog").await, StatusCode::NOT_FOUND).await;
    let response = app
        .post_json_as(
            app.url(&format!("/api/v1/statuses/{original}/reblog")),
            &bob.token,
            &json!({ "visibility": "sideways" }),
        )
        .await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn context_shows_the_visible_thread() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    let root = post(&app, &alice, json!({ "status": "root" })).await;
    let middle = post(&app, &bob, json!({ "status": "middle", "in_reply_to_id": root })).await;
    let leaf = post(&app, &alice, json!({ "status": "leaf", "in_reply_to_id": middle })).await;
    let hidden =
        post(&app, &bob, json!({ "status": "fo", "visibility": "private", "in_reply_to_id": middle })).await;

    let ids = |list: &Value| -> Vec<String> {
        list.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
    };
    let context: Value = app.get_json(&carol.token, &format!("/api/v1/statuses/{middle}/context")).await;
    assert_eq!(ids(&context["ancestors"]), vec![root.clone()]);
    assert_eq!(ids(&context["descendants"]), vec![leaf.clone()]);
    let context: Value = app.get_json(&bob.token, &format!("/api/v1/statuses/{root}/context")).await;
    assert_eq!(ids(&context["ancestors"]), Vec::<String>::new());
    assert_eq!(ids(&context["descendants"]), vec![middle.clone(), leaf.clone(), hidden.clone()]);
    let anonymous: Value =
        app.get(app.url(&format!("/api/v1/statuses/{leaf}/context"))).await.json().await.unwrap();
    assert_eq!(ids(&anonymous["ancestors"]), vec![root, middle]);
    let root_seen: Value = app.get_json(&carol.token, &format!("/api/v1/statuses/{leaf}")).await;
    assert_eq!(root_seen["in_reply_to_account_id"], bob.id.as_str());

    let url = app.url(&format!("/api/v1/statuses/{hidden}/context"));
    expect_error(app.get_as(&url, &carol.token).await, StatusCode::NOT_FOUND).await;
    expect_error(app.get(app.url("/api/v1/statuses/x/context")).await, StatusCode::NOT_FOUND).await;
    expect_error(app.get(app.url("/api/v1/statuses/1/context")).await, StatusCode::NOT_FOUND).await;
}

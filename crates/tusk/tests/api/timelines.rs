//! Public and account timelines, and Mastodon's `Link` pagination on every timeline.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, User, eventually, expect_error};

async fn post(app: &TestApp, user: &User, body: Value) -> String {
    let response = app.post_json_as(app.url("/api/v1/statuses"), &user.token, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

/// GET with an optional token: (ids on the page, `Link` header).
pub(crate) async fn page(app: &TestApp, token: Option<&str>, url: &str) -> (Vec<String>, Option<String>) {
    let mut request = app.http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    let link = response.headers().get("link").map(|l| l.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    let ids = body.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect();
    (ids, link)
}

/// The URLs of a `Link` header, by `rel`.
pub(crate) fn links(header: &str) -> (String, String) {
    let mut next = None;
    let mut prev = None;
    for part in header.split(", ") {
        let (url, rel) = part.split_once("; ").unwrap();
        let url = url.trim_start_matches('<').trim_end_matches('>').to_owned();
        match rel {
            "rel=\"next\"" => next = Some(url),
            "rel=\"prev\"" => prev = Some(url),
            other => panic!("unexpected {other}"),
        }
    }
    (next.unwrap(), prev.unwrap())
}

#[tokio::test]
async fn home_pages_through_link_headers_like_mastodon() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let mut posted = Vec::new();
    for n in 0..5 {
        posted.push(post(&app, &alice, json!({ "status": format!("post {n}") })).await);
    }
    posted.reverse();
    eventually("the posts in alice's home", || async { app.home_ids(&alice, "").await.len() == 5 }).await;

    let (first, link) =
        page(&app, Some(&alice.token), &app.url("/api/v1/timelines/home?limit=2&local=true")).await;
    assert_eq!(first, posted[..2]);
    let link = link.expect("a Link header");
    let base = app.url("/api/v1/timelines/home");
    assert_eq!(
        link,
        format!(
            "<{base}?limit=2&local=true&max_id={}>; rel=\"next\", <{base}?limit=2&local=true&min_id={}>; rel=\"prev\"",
            posted[1], posted[0]
        )
    );
    let (next, _) = links(&link);
    let (second, link) = page(&app, Some(&alice.token), &next).await;
    assert_eq!(second, posted[2..4]);
    let (next, prev) = links(&link.unwrap());
    let (third, _) = page(&app, Some(&alice.token), &next).await;
    assert_eq!(third, posted[4..]);
    // prev of the second page is what is right above it: the first page
    let (back, _) = page(&app, Some(&alice.token), &prev).await;
    assert_eq!(back, posted[..2]);
    // past the end: an empty page, without a Link header
    let (end, link) = page(&app, Some(&alice.token), &format!("{base}?max_id={}", posted[4])).await;
    assert!(end.is_empty());
    assert!(link.is_none());
    // limit defaults to 20 and is capped at 40
    for n in 5..45 {
        post(&app, &alice, json!({ "status": format!("more {n}") })).await;
    }
    eventually("45 posts in home", || async { app.home_ids(&alice, "?limit=40").await.len() == 40 }).await;
    assert_eq!(app.home_ids(&alice, "").await.len(), 20);
    assert_eq!(app.home_ids(&alice, "?limit=400").await.len(), 40);
    assert_eq!(app.home_ids(&alice, "?limit=nope").await.len(), 20);
}

#[tokio::test]
async fn the_public_timeline_shows_public_statuses_only() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let public = post(&app, &alice, json!({ "status": "for everyone" })).await;
    post(&app, &alice, json!({ "status": "quiet", "visibility": "unlisted" })).await;
    post(&app, &alice, json!({ "status": "friends", "visibility": "private" })).await;
    post(&app, &alice, json!({ "status": "secret", "visibility": "direct" })).await;
    let reply_to_other = post(&app, &bob, json!({ "status": "hi alice", "in_reply_to_id": public })).await;
    let self_reply = post(&app, &alice, json!({ "status": "and more", "in_reply_to_id": public })).await;
    let later = post(&app, &bob, json!({ "status": "bob speaks" })).await;

    let url = app.url("/api/v1/timelines/public");
    let expected = vec![later.clone(), self_reply.clone(), public.clone()];
    // without a token too
    assert_eq!(page(&app, None, &url).await.0, expected);
    assert_eq!(page(&app, Some(&bob.token), &format!("{url}?local=true")).await.0, expected);
    assert!(!expected.contains(&reply_to_other));
    // every status here is local
    let (remote, link) = page(&app, None, &format!("{url}?remote=true")).await;
    assert!(remote.is_empty());
    assert!(link.is_none());
    assert!(page(&app, None, &format!("{url}?only_media=true")).await.0.is_empty());

    // paging, with Link headers that keep the filters
    let (first, link) = page(&app, None, &format!("{url}?limit=1&local=true&since_id=1")).await;
    assert_eq!(first, vec![later.clone()]);
    let (next, prev) = links(&link.unwrap());
    assert_eq!(next, format!("{url}?limit=1&local=true&max_id={later}"));
    assert_eq!(prev, format!("{url}?limit=1&local=true&min_id={later}"));
    assert_eq!(page(&app, None, &next).await.0, vec![self_reply.clone()]);
    assert_eq!(page(&app, None, &format!("{url}?min_id={public}&limit=1")).await.0, vec![self_reply]);
    assert_eq!(page(&app, None, &format!("{url}?since_id={public}&limit=1")).await.0, vec![later]);

    // a token that is sent must be valid
    let response = app.get_as(&url, "not-a-token").await;
    expect_error(response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn account_statuses_follow_mastodons_visibility_and_filters() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    app.follow(&bob, &alice).await;
    let public = post(&app, &alice, json!({ "status": "public" })).await;
    let unlisted = post(&app, &alice, json!({ "status": "unlisted", "visibility": "unlisted" })).await;
    let private = post(&app, &alice, json!({ "status": "private", "visibility": "private" })).await;
    let direct = post(&app, &alice, json!({ "status": "direct", "visibility": "direct" })).await;
    let bobs = post(&app, &bob, json!({ "status": "bob's" })).await;
    let reply = post(&app, &alice, json!({ "status": "reply", "in_reply_to_id": bobs })).await;
    let self_reply = post(&app, &alice, json!({ "status": "thread", "in_reply_to_id": public })).await;

    let url = app.url(&format!("/api/v1/accounts/{}/statuses", alice.id));
    let everyone = vec![self_reply.clone(), reply.clone(), unlisted.clone(), public.clone()];
    assert_eq!(page(&app, None, &url).await.0, everyone);
    assert_eq!(page(&app, Some(&carol.token), &url).await.0, everyone);
    let followers =
        vec![self_reply.clone(), reply.clone(), private.clone(), unlisted.clone(), public.clone()];
    assert_eq!(page(&app, Some(&bob.token), &url).await.0, followers);
    let own = vec![self_reply.clone(), reply.clone(), direct, private, unlisted.clone(), public.clone()];
    assert_eq!(page(&app, Some(&alice.token), &url).await.0, own);

    // replies to others go, self-threads stay
    let (without_replies, link) = page(&app, None, &format!("{url}?exclude_replies=true&limit=2")).await;
    assert_eq!(without_replies, vec![self_reply.clone(), unlisted.clone()]);
    let (next, _) = links(&link.unwrap());
    assert_eq!(next, format!("{url}?exclude_replies=true&limit=2&max_id={unlisted}"));
    assert_eq!(page(&app, None, &next).await.0, vec![public.clone()]);
    assert_eq!(page(&app, None, &format!("{url}?exclude_reblogs=1")).await.0, everyone);
    assert_eq!(page(&app, None, &format!("{url}?min_id={public}&limit=2")).await.0, vec![reply, unlisted]);
    let (pinned, link) = page(&app, None, &format!("{url}?pinned=true")).await;
    assert!(pinned.is_empty());
    assert!(link.is_none());

    // an account that blocks the viewer shows it nothing
    let response = app
        .http
        .post(app.url(&format!("/api/v1/accounts/{}/block", carol.id)))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(page(&app, Some(&carol.token), &url).await.0.is_empty());

    for bad in ["/api/v1/accounts/nope/statuses", "/api/v1/accounts/12345/statuses"] {
        expect_error(app.get(app.url(bad)).await, StatusCode::NOT_FOUND).await;
    }
}

//! Notifications (v1 and grouped v2), written by the workers from the events; markers and
//! unread counts; mentions and hashtags parsed when a status is posted; the notification streams.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Listening, TestApp, User, eventually, expect_error};
use crate::streaming::next_sse_event;

async fn act(app: &TestApp, user: &User, path: &str) -> reqwest::Response {
    app.http.post(app.url(path)).bearer_auth(&user.token).send().await.unwrap()
}

async fn notifications(app: &TestApp, user: &User, query: &str) -> Vec<Value> {
    let page: Value = app.get_json(&user.token, &format!("/api/v1/notifications{query}")).await;
    page.as_array().unwrap().clone()
}

/// Waits until `user` holds `count` notifications (the workers write them).
async fn wait_for_notifications(app: &TestApp, user: &User, count: usize) -> Vec<Value> {
    eventually(&format!("{count} notifications"), || async {
        notifications(app, user, "").await.len() >= count
    })
    .await;
    notifications(app, user, "").await
}

fn kinds(page: &[Value]) -> Vec<&str> {
    page.iter().map(|n| n["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn follows_favourites_reblogs_and_mentions_notify_once() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    app.follow(&bob, &alice).await;
    let post = app.post_status(&alice, "hello").await["id"].as_str().unwrap().to_owned();
    for action in ["favourite", "unfavourite", "favourite"] {
        let response = act(&app, &bob, &format!("/api/v1/statuses/{post}/{action}")).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // a favourite's notification is written when the relay takes it: the next steps wait for
    // it, so that the page's order is the actions' order
    wait_for_notifications(&app, &alice, 2).await;
    let response = act(&app, &bob, &format!("/api/v1/statuses/{post}/reblog")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mention = app.post_status(&carol, "hi @alice and @nobody, see #Tusk").await;
    // the status names the mentioned account and the tag, and links both
    assert_eq!(mention["mentions"][0]["username"], "alice");
    assert_eq!(mention["mentions"][0]["id"], alice.id.as_str());
    assert_eq!(mention["mentions"].as_array().unwrap().len(), 1);
    assert_eq!(mention["tags"][0]["name"], "tusk");
    let content = mention["content"].as_str().unwrap();
    assert!(content.contains("class=\"u-url mention\">@<span>alice</span></a>"), "{content}");
    assert!(content.contains("@nobody"), "{content}");
    assert!(content.contains("rel=\"tag\">#<span>Tusk</span></a>"), "{content}");

    let page = wait_for_notifications(&app, &alice, 4).await;
    // newest first; a favourite taken back and given again is still one notification
    assert_eq!(kinds(&page), vec!["mention", "reblog", "favourite", "follow"]);
    assert_eq!(page[0]["account"]["username"], "carol");
    assert_eq!(page[0]["status"]["id"], mention["id"]);
    assert_eq!(page[1]["status"]["id"], post.as_str());
    assert_eq!(page[2]["account"]["username"], "bob");
    assert!(page[3]["status"].is_null());
    assert!(page[2]["group_key"].as_str().unwrap().starts_with(&format!("favourite-{post}-")));
    assert!(page[0]["group_key"].as_str().unwrap().starts_with("ungrouped-"));
    // nobody is notified of their own actions; bob got nothing
    // the follow, the two posts, the reblog, and the two favourites (coalesced or not)
    app.wait_for_jobs("notify", 5).await;
    assert!(notifications(&app, &bob, "").await.is_empty());

    // filters
    let only: Vec<Value> = notifications(&app, &alice, "?types[]=favourite&types[]=follow").await;
    assert_eq!(kinds(&only), vec!["favourite", "follow"]);
    let without = notifications(&app, &alice, "?exclude_types[]=mention").await;
    assert_eq!(kinds(&without), vec!["reblog", "favourite", "follow"]);
    let from_carol = notifications(&app, &alice, &format!("?account_id={}", carol.id)).await;
    assert_eq!(kinds(&from_carol), vec!["mention"]);
    // paging, with the filters repeated in the Link header
    let response = app
        .get_as(
            app.url("/api/v1/notifications?limit=2&types[]=favourite&types[]=follow&types[]=reblog"),
            &alice.token,
        )
        .await;
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains("types%5B%5D=favourite&types%5B%5D=follow&types%5B%5D=reblog"), "{link}");
    let first: Vec<Value> = response.json().await.unwrap();
    assert_eq!(kinds(&first), vec!["reblog", "favourite"]);
    let older = notifications(&app, &alice, &format!("?max_id={}", first[1]["id"].as_str().unwrap())).await;
    assert_eq!(kinds(&older), vec!["follow"]);

    // one, dismissed, cleared
    let id = page[0]["id"].as_str().unwrap();
    let one: Value = app.get_json(&alice.token, &format!("/api/v1/notifications/{id}")).await;
    assert_eq!(one["type"], "mention");
    expect_error(
        app.get_as(app.url(&format!("/api/v1/notifications/{id}")), &bob.token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        act(&app, &alice, &format!("/api/v1/notifications/{id}/dismiss")).await.status(),
        StatusCode::OK
    );
    expect_error(
        act(&app, &alice, &format!("/api/v1/notifications/{id}/dismiss")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(notifications(&app, &alice, "").await.len(), 3);
    assert_eq!(act(&app, &alice, "/api/v1/notifications/clear").await.status(), StatusCode::OK);
    assert!(notifications(&app, &alice, "").await.is_empty());
    let grouped: Value = app.get_json(&alice.token, "/api/v2/notifications").await;
    assert_eq!(grouped["notification_groups"], json!([]));
}

#[tokio::test]
async fn a_favourite_taken_back_takes_its_notification_with_it() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let post = app.post_status(&alice, "like it or not").await["id"].as_str().unwrap().to_owned();
    let favourite = format!("/api/v1/statuses/{post}/favourite");
    let unfavourite = format!("/api/v1/statuses/{post}/unfavourite");
    assert_eq!(act(&app, &bob, &favourite).await.status(), StatusCode::OK);
    assert_eq!(kinds(&wait_for_notifications(&app, &alice, 1).await), vec!["favourite"]);
    assert_eq!(act(&app, &bob, &unfavourite).await.status(), StatusCode::OK);
    assert!(notifications(&app, &alice, "").await.is_empty());
    let grouped: Value = app.get_json(&alice.token, "/api/v2/notifications").await;
    assert_eq!(grouped["notification_groups"], json!([]), "the group went with its last notification");

    // taken back before the relay passed: the event finds no favourite and writes nothing
    let jobs = app.jobs_done("notify").await;
    assert_eq!(act(&app, &bob, &favourite).await.status(), StatusCode::OK);
    assert_eq!(act(&app, &bob, &unfavourite).await.status(), StatusCode::OK);
    app.wait_for_jobs("notify", jobs + 1).await;
    assert!(notifications(&app, &alice, "").await.is_empty());
}

#[tokio::test]
async fn blocked_and_muted_accounts_do_not_notify_and_requests_do() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    let dave = app.sign_up("dave").await;
    let post = app.post_status(&alice, "quiet please").await["id"].as_str().unwrap().to_owned();
    assert_eq!(
        act(&app, &alice, &format!("/api/v1/accounts/{}/block", bob.id)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        act(&app, &alice, &format!("/api/v1/accounts/{}/mute", carol.id)).await.status(),
        StatusCode::OK
    );
    app.post_status(&bob, "@alice hey").await;
    app.post_status(&carol, "@alice hey").await;
    assert_eq!(
        act(&app, &carol, &format!("/api/v1/statuses/{post}/favourite")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        act(&app, &dave, &format!("/api/v1/statuses/{post}/favourite")).await.status(),
        StatusCode::OK
    );
    // alice's post and the two mentions; the favourites, coalesced or not, are relayed in
    // order: dave's notification comes after carol's was refused
    app.wait_for_jobs("notify", 3).await;
    let page = wait_for_notifications(&app, &alice, 1).await;
    assert_eq!(kinds(&page), vec!["favourite"]);
    assert_eq!(page[0]["account"]["username"], "dave");
    // dave's notifications hide once alice mutes dave
    assert_eq!(
        act(&app, &alice, &format!("/api/v1/accounts/{}/mute", dave.id)).await.status(),
        StatusCode::OK
    );
    assert!(notifications(&app, &alice, "").await.is_empty());
    let grouped: Value = app.get_json(&alice.token, "/api/v2/notifications").await;
    assert_eq!(grouped["notification_groups"], json!([]));

    // a locked account is told of the request; answering it takes the request's notification away
    let locked = app.sign_up("locked").await;
    let response = app
        .http
        .patch(app.url("/api/v1/accounts/update_credentials"))
        .bearer_auth(&locked.token)
        .json(&json!({ "locked": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let jobs = app.jobs_done("notify").await;
    app.follow(&dave, &locked).await;
    let requests = wait_for_notifications(&app, &locked, 1).await;
    assert_eq!(kinds(&requests), vec!["follow_request"]);
    let path = format!("/api/v1/follow_requests/{}/authorize", dave.id);
    assert_eq!(act(&app, &locked, &path).await.status(), StatusCode::OK);
    assert!(notifications(&app, &locked, "").await.is_empty());
    app.wait_for_jobs("notify", jobs + 2).await;
    // an authorized request is no new follow notification
    assert!(notifications(&app, &locked, "").await.is_empty());
}

#[tokio::test]
async fn grouped_notifications_gather_favourites_of_a_status() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let fans: Vec<User> = {
        let mut fans = Vec::new();
        for n in 0..10 {
            fans.push(app.sign_up(&format!("fan{n}")).await);
        }
        fans
    };
    let post = app.post_status(&alice, "group me").await["id"].as_str().unwrap().to_owned();
    for fan in &fans {
        assert_eq!(
            act(&app, fan, &format!("/api/v1/statuses/{post}/favourite")).await.status(),
            StatusCode::OK
        );
    }
    wait_for_notifications(&app, &alice, 10).await;
    app.follow(&fans[0], &alice).await;
    app.post_status(&fans[1], "@alice look").await;
    wait_for_notifications(&app, &alice, 12).await;

    let page: Value = app.get_json(&alice.token, "/api/v2/notifications").await;
    let groups = page["notification_groups"].as_array().unwrap();
    let types: Vec<&str> = groups.iter().map(|g| g["type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["mention", "follow", "favourite"]);
    let favourites = &groups[2];
    assert_eq!(favourites["notifications_count"], 10);
    assert_eq!(favourites["status_id"], post.as_str());
    assert_eq!(favourites["sample_account_ids"].as_array().unwrap().len(), 8);
    // the newest senders first: the workers write the favourites' notifications concurrently,
    // so "newest" is the notifications' order, which v1 lists
    let newest: Vec<String> = notifications(&app, &alice, "?types[]=favourite")
        .await
        .iter()
        .take(8)
        .map(|n| n["account"]["id"].as_str().unwrap().to_owned())
        .collect();
    let sample: Vec<String> = favourites["sample_account_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sample, newest);
    assert!(favourites["group_key"].as_str().unwrap().starts_with(&format!("favourite-{post}-")));
    assert!(favourites["page_min_id"].as_str().unwrap() < favourites["page_max_id"].as_str().unwrap());
    assert_eq!(favourites["page_max_id"], favourites["most_recent_notification_id"]);
    assert!(groups[1]["group_key"].as_str().unwrap().starts_with("follow-"));
    assert!(groups[1].get("status_id").is_none());
    // each account and status once
    let accounts: Vec<&str> =
        page["accounts"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    let mut unique = accounts.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), accounts.len());
    // the 8 sampled favouriters, fan1 (the mention) and fan0 (the follow)
    let mut expected: Vec<&str> = sample.iter().map(String::as_str).collect();
    expected.extend([fans[0].id.as_str(), fans[1].id.as_str()]);
    expected.sort_unstable();
    expected.dedup();
    assert_eq!(unique, expected);
    assert_eq!(page["statuses"].as_array().unwrap().len(), 2);

    // partial avatars: the first sender of each group in `accounts`, the rest in `partial_accounts`
    let partial: Value =
        app.get_json(&alice.token, "/api/v2/notifications?expand_accounts=partial_avatars").await;
    let mut firsts = vec![sample[0].as_str(), fans[0].id.as_str(), fans[1].id.as_str()];
    firsts.sort_unstable();
    firsts.dedup();
    assert_eq!(partial["accounts"].as_array().unwrap().len(), firsts.len());
    assert!(partial["partial_accounts"][0]["avatar"].is_string());
    let bad = app.get_as(app.url("/api/v2/notifications?expand_accounts=everything"), &alice.token).await;
    expect_error(bad, StatusCode::BAD_REQUEST).await;

    // favourites not grouped: one group each
    let ungrouped: Value =
        app.get_json(&alice.token, "/api/v2/notifications?grouped_types[]=follow&limit=5").await;
    let groups = ungrouped["notification_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 5);
    assert_eq!(groups[2]["type"], "favourite");
    assert_eq!(groups[2]["notifications_count"], 1);
    assert!(groups[2]["group_key"].as_str().unwrap().starts_with("ungrouped-"));
    // a page's Link goes on below its last group
    let response = app.get_as(app.url("/api/v2/notifications?limit=2"), &alice.token).await;
    assert!(response.headers()["link"].to_str().unwrap().contains("max_id="));
    let first: Value = response.json().await.unwrap();
    let last = first["notification_groups"][1]["most_recent_notification_id"].as_str().unwrap().to_owned();
    let next: Value = app.get_json(&alice.token, &format!("/api/v2/notifications?max_id={last}")).await;
    assert_eq!(next["notification_groups"][0]["type"], "favourite");

    // one group by its key, then dismissed
    let key = favourites["group_key"].as_str().unwrap();
    let one: Value = app.get_json(&alice.token, &format!("/api/v2/notifications/{key}")).await;
    assert_eq!(one["notification_groups"][0]["notifications_count"], 10);
    assert!(one["notification_groups"][0].get("page_min_id").is_none());
    assert_eq!(
        act(&app, &alice, &format!("/api/v2/notifications/{key}/dismiss")).await.status(),
        StatusCode::OK
    );
    expect_error(
        app.get_as(app.url(&format!("/api/v2/notifications/{key}")), &alice.token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // a key PostgreSQL's text cannot hold names no group
    expect_error(
        app.get_as(app.url("/api/v2/notifications/a%00b"), &alice.token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(notifications(&app, &alice, "").await.len(), 2);
}

#[tokio::test]
async fn markers_count_versions_and_bound_the_unread_counts() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let empty: Value =
        app.get_json(&alice.token, "/api/v1/markers?timeline[]=home&timeline[]=notifications").await;
    assert_eq!(empty, json!({}));
    let post = app.post_status(&alice, "count me").await["id"].as_str().unwrap().to_owned();
    app.follow(&bob, &alice).await;
    assert_eq!(act(&app, &bob, &format!("/api/v1/statuses/{post}/favourite")).await.status(), StatusCode::OK);
    let page = wait_for_notifications(&app, &alice, 2).await;
    let unread: Value = app.get_json(&alice.token, "/api/v1/notifications/unread_count").await;
    assert_eq!(unread, json!({ "count": 2 }));
    let capped: Value = app.get_json(&alice.token, "/api/v1/notifications/unread_count?limit=1").await;
    assert_eq!(capped["count"], 1);
    let grouped: Value = app.get_json(&alice.token, "/api/v2/notifications/unread_count").await;
    assert_eq!(grouped["count"], 2);

    // form and JSON bodies; a new marker is at version 1, each change bumps it
    let older = page[1]["id"].as_str().unwrap();
    let response = app
        .http
        .post(app.url("/api/v1/markers"))
        .bearer_auth(&alice.token)
        .form(&[("notifications[last_read_id]", older), ("home[last_read_id]", post.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set: Value = response.json().await.unwrap();
    assert_eq!(set["notifications"]["last_read_id"], older);
    assert_eq!(set["notifications"]["version"], 1);
    assert_eq!(set["home"]["last_read_id"], post.as_str());
    assert!(set["home"]["updated_at"].as_str().unwrap().ends_with('Z'));
    let unread: Value = app.get_json(&alice.token, "/api/v1/notifications/unread_count").await;
    assert_eq!(unread["count"], 1);

    let newest = page[0]["id"].as_str().unwrap();
    let body = json!({ "notifications": { "last_read_id": newest } });
    let set: Value =
        app.post_json_as(app.url("/api/v1/markers"), &alice.token, &body).await.json().await.unwrap();
    assert_eq!(set["notifications"]["version"], 2);
    assert!(set.get("home").is_none());
    let unchanged: Value =
        app.post_json_as(app.url("/api/v1/markers"), &alice.token, &body).await.json().await.unwrap();
    assert_eq!(unchanged["notifications"]["version"], 2);
    let unread: Value = app.get_json(&alice.token, "/api/v2/notifications/unread_count").await;
    assert_eq!(unread["count"], 0);
    let both: Value =
        app.get_json(&alice.token, "/api/v1/markers?timeline[]=home&timeline[]=notifications").await;
    assert_eq!(both["home"]["version"], 1);
    assert_eq!(both["notifications"]["last_read_id"], newest);
    let bad = json!({ "home": { "last_read_id": "" } });
    expect_error(
        app.post_json_as(app.url("/api/v1/markers"), &alice.token, &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn notifications_reach_the_user_streams() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let response = app.get_as(app.url("/api/v1/streaming/user/notification"), &alice.token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.bytes_stream();
    app.wait_until_listening(Listening::User(&alice)).await;
    app.follow(&bob, &alice).await;
    let event: Value = serde_json::from_str(&next_sse_event(&mut body, "notification").await).unwrap();
    assert_eq!(event["type"], "follow");
    assert_eq!(event["account"]["username"], "bob");

    // the user stream carries them too, next to the updates; a direct mention reaches alice
    let user = app.get_as(app.url("/api/v1/streaming/user"), &alice.token).await;
    let mut user = user.bytes_stream();
    let status = app
        .post_json_as(
            app.url("/api/v1/statuses"),
            &bob.token,
            &json!({ "status": "@alice psst", "visibility": "direct" }),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let mention: Value = serde_json::from_str(&next_sse_event(&mut user, "notification").await).unwrap();
    assert_eq!(mention["type"], "mention");
    assert_eq!(mention["status"]["id"], status["id"]);
    assert_eq!(mention["status"]["visibility"], "direct");
    // alice may read it; carol may not
    let seen: Value =
        app.get_json(&alice.token, &format!("/api/v1/statuses/{}", status["id"].as_str().unwrap())).await;
    assert_eq!(seen["mentions"][0]["username"], "alice");
    let carol = app.sign_up("carol").await;
    let hidden = app
        .get_as(app.url(&format!("/api/v1/statuses/{}", status["id"].as_str().unwrap())), &carol.token)
        .await;
    expect_error(hidden, StatusCode::NOT_FOUND).await;
    eventually("the direct status in alice's home", || async {
        app.in_redis_feed(&alice, status["id"].as_str().unwrap()).await
    })
    .await;
}

#[tokio::test]
async fn accounts_and_hashtags_are_found_by_prefix_followed_first() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let albert = app.sign_up("albert").await;
    let _alfred = app.sign_up("alfred").await;
    app.sign_up("bob").await;
    app.follow(&alice, &albert).await;
    app.post_status(&alice, "#Alpine and #alps").await;
    let names = |found: &Value| -> Vec<String> {
        found.as_array().unwrap().iter().map(|a| a["username"].as_str().unwrap().to_owned()).collect()
    };
    // followed first, then by username; the searcher itself is found too, as in Mastodon
    let found: Value = app.get_json(&alice.token, "/api/v1/accounts/search?q=Al").await;
    assert_eq!(names(&found), vec!["albert", "alfred", "alice"]);
    let found: Value = app.get_json(&alice.token, "/api/v1/accounts/search?q=al&limit=1&offset=1").await;
    assert_eq!(names(&found), vec!["alfred"]);
    let found: Value = app.get_json(&alice.token, "/api/v1/accounts/search?q=al&following=true").await;
    assert_eq!(names(&found), vec!["albert"]);
    // `@name@this.domain` is local; another server's accounts are not known yet; wildcards are text
    let local = format!("/api/v1/accounts/search?q=@bob@{}", app.base.trim_start_matches("http://"));
    assert_eq!(names(&app.get_json(&alice.token, &local).await), vec!["bob"]);
    let remote: Value = app.get_json(&alice.token, "/api/v1/accounts/search?q=bob@elsewhere.example").await;
    assert_eq!(remote, json!([]));
    assert_eq!(app.get_json(&alice.token, "/api/v1/accounts/search?q=%25").await, json!([]));

    let v2: Value = app.get_json(&alice.token, "/api/v2/search?q=al&type=accounts&resolve=true").await;
    assert_eq!(names(&v2["accounts"]), vec!["albert", "alfred", "alice"]);
    assert_eq!(v2["hashtags"], json!([]));
    let tags: Value = app.get(app.url("/api/v2/search?q=%23alp")).await.json().await.unwrap();
    let tags: Vec<&str> =
        tags["hashtags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tags, vec!["alpine", "alps"]);
    // resolving needs a signed-in searcher
    expect_error(app.get(app.url("/api/v2/search?q=al&resolve=true")).await, StatusCode::UNAUTHORIZED).await;
}

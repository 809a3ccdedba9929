//! What an account keeps and sets: bookmarks, pins, the favourites, bookmarks, blocks and mutes
//! lists (paged by their own rows' ids, as Mastodon pages them), posting defaults and
//! `/api/v1/preferences`, several statuses at once, and the empty answers of what comes later.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, User, expect_error};
use crate::interactions::act;
use crate::timelines::{links, page};

async fn acted(app: &TestApp, user: &User, id: &str, action: &str) -> Value {
    let response = act(app, user, id, action).await;
    assert_eq!(response.status(), StatusCode::OK, "{action} {id}");
    response.json().await.unwrap()
}

async fn post(app: &TestApp, user: &User, body: Value) -> Value {
    let response = app.post_json_as(app.url("/api/v1/statuses"), &user.token, &body).await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    response.json().await.unwrap()
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn favourites_and_bookmarks_list_newest_first_and_page_by_their_own_ids() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let older = id(&app.post_status(&bob, "older").await);
    let newer = id(&app.post_status(&bob, "newer").await);
    // kept in the other order than posted: the lists follow when each was kept
    for action in ["favourite", "bookmark"] {
        acted(&app, &alice, &newer, action).await;
        acted(&app, &alice, &older, action).await;
    }
    let shown = acted(&app, &alice, &older, "bookmark").await;
    assert_eq!((shown["bookmarked"].clone(), shown["favourited"].clone()), (json!(true), json!(true)));
    let seen_by_bob = app.get_json(&bob.token, &format!("/api/v1/statuses/{older}")).await;
    assert_eq!(seen_by_bob["bookmarked"], false, "a bookmark is its owner's alone");

    for list in ["favourites", "bookmarks"] {
        let url = app.url(&format!("/api/v1/{list}"));
        let (ids, _) = page(&app, Some(&alice.token), &url).await;
        assert_eq!(ids, [older.clone(), newer.clone()], "{list}");
        let (first, link) = page(&app, Some(&alice.token), &format!("{url}?limit=1")).await;
        assert_eq!(first, vec![older.clone()]);
        let (next, _) = links(&link.unwrap());
        // the cursor is the favourite's or bookmark's id, not the status's
        assert!(!next.contains(&older), "{next}");
        let (second, _) = page(&app, Some(&alice.token), &next).await;
        assert_eq!(second, vec![newer.clone()], "{list}: the next page");
        expect_error(app.get(&url).await, StatusCode::UNAUTHORIZED).await;
    }

    // a reblog's bookmark is its original's, as apps act on it
    let reblog = id(&acted(&app, &bob, &newer, "reblog").await);
    let unbookmarked = acted(&app, &alice, &reblog, "unbookmark").await;
    assert_eq!((id(&unbookmarked), unbookmarked["bookmarked"].clone()), (newer.clone(), json!(false)));
    let (ids, _) = page(&app, Some(&alice.token), &app.url("/api/v1/bookmarks")).await;
    assert_eq!(ids, vec![older.clone()]);

    // what alice may not see she cannot bookmark
    let private = id(&post(&app, &bob, json!({ "status": "followers only", "visibility": "private" })).await);
    expect_error(act(&app, &alice, &private, "bookmark").await, StatusCode::NOT_FOUND).await;
    // a deleted status leaves the lists
    let response = app.http.delete(app.url(&format!("/api/v1/statuses/{older}"))).bearer_auth(&bob.token);
    assert_eq!(response.send().await.unwrap().status(), StatusCode::OK);
    let (ids, _) = page(&app, Some(&alice.token), &app.url("/api/v1/favourites")).await;
    assert_eq!(ids, vec![newer.clone()]);
}

#[tokio::test]
async fn pins_are_own_at_most_five_and_shown_on_the_profile_as_visibility_allows() {
    let app = TestApp::spawn().await;
    let (carol, alice) = {
        let alice = app.sign_up("alice").await;
        let carol = app.sign_up("carol").await;
        app.follow(&carol, &alice).await;
        (carol, alice)
    };
    let bob = app.sign_up("bob").await;
    let public = id(&app.post_status(&alice, "pin me").await);
    let private =
        id(&post(&app, &alice, json!({ "status": "for followers", "visibility": "private" })).await);
    let direct = id(&post(&app, &alice, json!({ "status": "@carol psst", "visibility": "direct" })).await);
    let pinned = acted(&app, &alice, &public, "pin").await;
    assert_eq!(pinned["pinned"], true);
    acted(&app, &alice, &public, "pin").await; // twice changes nothing
    acted(&app, &alice, &private, "pin").await; // Mastodon pins followers-only posts too

    let refused = |response, message: &'static str| async move {
        let body = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["error"], format!("Validation failed: {message}"));
    };
    refused(
        act(&app, &alice, &direct, "pin").await,
        "Posts that are only visible to mentioned users cannot be pinned",
    )
    .await;
    refused(act(&app, &bob, &public, "pin").await, "Someone else's post cannot be pinned").await;
    let reblog = id(&acted(&app, &alice, &public, "reblog").await);
    refused(act(&app, &alice, &reblog, "pin").await, "A boost cannot be pinned").await;
    for n in 0..3 {
        let more = id(&app.post_status(&alice, &format!("pin {n}")).await);
        acted(&app, &alice, &more, "pin").await;
    }
    let sixth = id(&app.post_status(&alice, "one too many").await);
    refused(act(&app, &alice, &sixth, "pin").await, "You have already pinned the maximum number of posts")
        .await;

    let pinned_url = app.url(&format!("/api/v1/accounts/{}/statuses?pinned=true", alice.id));
    let (for_carol, _) = page(&app, Some(&carol.token), &pinned_url).await;
    assert_eq!(for_carol.len(), 5, "a follower sees every pin");
    assert!(for_carol.contains(&private) && for_carol.contains(&public));
    let (for_bob, _) = page(&app, Some(&bob.token), &pinned_url).await;
    assert_eq!(for_bob.len(), 4, "the followers-only pin is hidden from others");
    assert!(!for_bob.contains(&private));
    let (signed_out, _) = page(&app, None, &pinned_url).await;
    assert_eq!(signed_out, for_bob);
    // the profile's own page still holds every status
    let (all, _) =
        page(&app, Some(&alice.token), &app.url(&format!("/api/v1/accounts/{}/statuses", alice.id))).await;
    assert!(all.len() > 5);

    let unpinned = acted(&app, &alice, &public, "unpin").await;
    assert_eq!(unpinned["pinned"], false);
    acted(&app, &alice, &sixth, "pin").await;
    let (for_alice, _) = page(&app, Some(&alice.token), &pinned_url).await;
    assert!(for_alice.contains(&sixth) && !for_alice.contains(&public));
}

#[tokio::test]
async fn blocks_and_mutes_list_the_accounts_newest_first_with_link_headers() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    for (action, list) in [("block", "blocks"), ("mute", "mutes")] {
        for target in [&bob, &carol] {
            let path = format!("/api/v1/accounts/{}/{action}", target.id);
            let response = app.http.post(app.url(&path)).bearer_auth(&alice.token).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
        let url = app.url(&format!("/api/v1/{list}"));
        let (ids, _) = page(&app, Some(&alice.token), &url).await;
        assert_eq!(ids, [carol.id.clone(), bob.id.clone()], "{list}");
        let (first, link) = page(&app, Some(&alice.token), &format!("{url}?limit=1")).await;
        assert_eq!(first, vec![carol.id.clone()]);
        let (next, _) = links(&link.unwrap());
        let (second, _) = page(&app, Some(&alice.token), &next).await;
        assert_eq!(second, vec![bob.id.clone()], "{list}: the next page");
        let (theirs, _) = page(&app, Some(&bob.token), &url).await;
        assert!(theirs.is_empty(), "bob's {list} are his own");
    }
    let path = format!("/api/v1/accounts/{}/unblock", bob.id);
    app.http.post(app.url(&path)).bearer_auth(&alice.token).send().await.unwrap();
    let (ids, _) = page(&app, Some(&alice.token), &app.url("/api/v1/blocks")).await;
    assert_eq!(ids, vec![carol.id.clone()]);
}

#[tokio::test]
async fn posting_defaults_are_set_through_update_credentials_and_applied_to_posts() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let preferences = app.get_json(&alice.token, "/api/v1/preferences").await;
    assert_eq!(preferences["posting:default:visibility"], "public");
    assert_eq!(preferences["posting:default:sensitive"], false);
    assert_eq!(preferences["posting:default:language"], Value::Null);
    assert_eq!(preferences["reading:expand:media"], "default");
    assert_eq!(preferences["reading:expand:spoilers"], false);

    let update = |body: Vec<(&'static str, &'static str)>| {
        app.http
            .patch(app.url("/api/v1/accounts/update_credentials"))
            .bearer_auth(&alice.token)
            .form(&body)
            .send()
    };
    // a form as apps send it
    let response = update(vec![
        ("source[privacy]", "private"),
        ("source[sensitive]", "true"),
        ("source[language]", "de"),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["source"]["privacy"], "private");
    assert_eq!(me["source"]["sensitive"], true);
    assert_eq!(me["source"]["language"], "de");
    let preferences = app.get_json(&alice.token, "/api/v1/preferences").await;
    assert_eq!(preferences["posting:default:visibility"], "private");
    assert_eq!(preferences["posting:default:sensitive"], true);
    assert_eq!(preferences["posting:default:language"], "de");

    // a post that leaves them out gets them; one that names them keeps its own
    let defaulted = app.post_status(&alice, "with the defaults").await;
    assert_eq!(defaulted["visibility"], "private");
    assert_eq!(defaulted["sensitive"], true);
    assert_eq!(defaulted["language"], "de");
    let own = post(
        &app,
        &alice,
        json!({ "status": "my own", "visibility": "unlisted", "sensitive": false, "language": "en" }),
    )
    .await;
    assert_eq!(
        (own["visibility"].clone(), own["sensitive"].clone(), own["language"].clone()),
        (json!("unlisted"), json!(false), json!("en"))
    );

    // nested, as a JSON body sends them
    let response = app
        .http
        .patch(app.url("/api/v1/accounts/update_credentials"))
        .bearer_auth(&alice.token)
        .json(&json!({ "source": { "privacy": "unlisted" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.get_json(&alice.token, "/api/v1/preferences").await["posting:default:visibility"],
        "unlisted"
    );

    // direct is no default, nor is a made-up language: 422 and nothing changes
    for bad in [("source[privacy]", "direct"), ("source[language]", "not a language")] {
        let body = expect_error(
            update(vec![bad, ("display_name", "changed")]).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        let fields: Vec<&String> = body["details"].as_object().unwrap().keys().collect();
        assert!(fields.iter().all(|f| f.starts_with("source[")), "{body}");
    }
    let me = app.get_json(&alice.token, "/api/v1/accounts/verify_credentials").await;
    assert_eq!((me["source"]["privacy"].clone(), me["display_name"].clone()), (json!("unlisted"), json!("")));
}

#[tokio::test]
async fn several_statuses_at_once_keep_the_order_asked_and_leave_out_the_hidden() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let first = id(&app.post_status(&bob, "first").await);
    let second = id(&app.post_status(&bob, "second").await);
    let private = id(&post(&app, &bob, json!({ "status": "followers only", "visibility": "private" })).await);
    let query = format!("id[]={second}&id[]=nope&id[]={private}&id[]={first}&id[]=12345&id[]={second}");
    let url = app.url(&format!("/api/v1/statuses?{query}"));
    let (ids, _) = page(&app, Some(&alice.token), &url).await;
    assert_eq!(ids, [second.clone(), first.clone()]);
    let (ids, _) = page(&app, Some(&bob.token), &url).await;
    assert_eq!(ids, [second.clone(), private.clone(), first.clone()], "the author sees its own");
    let (ids, _) = page(&app, None, &app.url(&format!("/api/v1/statuses?id={first}"))).await;
    assert_eq!(ids, vec![first.clone()], "one id without brackets, signed out");
    let many: Vec<String> = (1..=21).map(|n| format!("id[]={n}")).collect();
    let response = app.get(app.url(&format!("/api/v1/statuses?{}", many.join("&")))).await;
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn what_comes_later_answers_empty_and_refuses_writes() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    for path in [
        "/api/v1/custom_emojis",
        "/api/v1/announcements",
        "/api/v1/lists",
        "/api/v1/followed_tags",
        "/api/v1/filters",
        "/api/v2/filters",
        "/api/v1/conversations",
        "/api/v1/scheduled_statuses",
        "/api/v1/instance/peers",
        "/api/v1/instance/rules",
        "/api/v1/trends",
        "/api/v1/trends/tags",
        "/api/v1/trends/statuses",
        "/api/v1/trends/links",
        "/api/v1/notifications/requests",
    ] {
        assert_eq!(app.get_json(&alice.token, path).await, json!([]), "{path}");
    }
    let policy = app.get_json(&alice.token, "/api/v2/notifications/policy").await;
    assert_eq!(policy["for_not_following"], "accept");
    assert_eq!(policy["summary"]["pending_requests_count"], 0);
    for (path, body) in [
        ("/api/v1/lists", json!({ "title": "friends" })),
        ("/api/v2/filters", json!({ "title": "spoilers", "context": ["home"] })),
    ] {
        let body = expect_error(
            app.post_json_as(app.url(path), &alice.token, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(body["error"].as_str().unwrap().ends_with("are not supported on this server yet"), "{body}");
    }
    assert_eq!(app.get_json(&alice.token, "/api/v1/lists").await, json!([]), "nothing was made");
}

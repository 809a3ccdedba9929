//! Rate limits, counted in the real Redis: each limit answers 429 at the right count with
//! Mastodon's headers, replicas share the counts, `X-Forwarded-For` counts only from a trusted
//! proxy, and a Redis outage serves requests unlimited. Each test runs extra api replicas with
//! low limits on its TestApp's database and key prefix (the TestApp's own limits are very high).
//! Periods are hours or a day, so a window does not end in the middle of a test.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tusk::Connections;
use tusk_api::{Limit, RateLimits, TrustedProxies};

use crate::helpers::{Replica, TestApp, User, sign_up_form};

/// Another `tusk api` on the TestApp's PostgreSQL, Redis prefix and queues, with `limits`.
async fn replica(app: &TestApp, limits: RateLimits) -> Replica {
    Replica::start(app, &app.conn, |settings| settings.rate_limits = limits).await
}

/// Mastodon's limits, with `tweak` applied, and nothing else limited.
fn limits(tweak: impl FnOnce(&mut RateLimits)) -> RateLimits {
    let mut limits = RateLimits::uniform(Limit::new(1_000_000, Duration::from_hours(1)));
    tweak(&mut limits);
    limits
}

fn per_hour(count: u64) -> Limit {
    Limit::new(count, Duration::from_hours(1))
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).unwrap_or_else(|| panic!("no {name}")).to_str().unwrap()
}

/// Asserts the `X-RateLimit-*` headers: the limit, what remains, and a reset at the end of the
/// hour-long window (ISO 8601 in UTC with microseconds, as Mastodon sends it).
fn assert_rate_headers(response: &reqwest::Response, limit: u64, remaining: u64) {
    assert_eq!(header(response, "x-ratelimit-limit"), limit.to_string());
    assert_eq!(header(response, "x-ratelimit-remaining"), remaining.to_string());
    let reset = header(response, "x-ratelimit-reset");
    assert!(reset.ends_with(".000000Z"), "{reset}");
    let reset = chrono::DateTime::parse_from_rfc3339(reset).unwrap();
    let now = chrono::Utc::now().timestamp();
    assert_eq!(reset.timestamp() % 3600, 0, "the window is not aligned to the hour: {reset}");
    assert!(reset.timestamp() > now && reset.timestamp() <= now + 3600, "{reset}");
}

/// Asserts a 429 as Mastodon gives it, with `Retry-After` up to the window's end.
async fn assert_too_many(response: reqwest::Response, limit: u64) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_rate_headers(&response, limit, 0);
    let retry_after: u64 = header(&response, "retry-after").parse().unwrap();
    assert!((1..=3600).contains(&retry_after), "Retry-After: {retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "error": "Too many requests" }));
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthenticated_requests_are_limited_per_ip() {
    let app = TestApp::spawn().await;
    let replica = replica(&app, limits(|l| l.unauthenticated = per_hour(3))).await;
    for remaining in [2, 1, 0] {
        let response = app.get(replica.url("/api/v1/instance")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_rate_headers(&response, 3, remaining);
    }
    assert_too_many(app.get(replica.url("/api/v1/instance")).await, 3).await;
    // every API answer is counted and carries the headers, an unknown path too
    assert_too_many(app.get(replica.url("/api/v1/no_such_thing")).await, 3).await;
    // a request with a token is counted by its token, not by the IP
    let user = app.sign_up("alice").await;
    let response = app.get_as(replica.url("/api/v1/accounts/verify_credentials"), &user.token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_rate_headers(&response, 1_000_000, 999_999);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_count_is_shared_by_every_replica() {
    let app = TestApp::spawn().await;
    let tweak = |l: &mut RateLimits| l.unauthenticated = per_hour(4);
    let (one, two) = (replica(&app, limits(tweak)).await, replica(&app, limits(tweak)).await);
    for (replica, remaining) in [(&one, 3), (&two, 2), (&one, 1), (&two, 0)] {
        let response = app.get(replica.url("/api/v1/instance")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_rate_headers(&response, 4, remaining);
    }
    assert_too_many(app.get(one.url("/api/v1/instance")).await, 4).await;
    assert_too_many(app.get(two.url("/api/v1/instance")).await, 4).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn authenticated_requests_are_limited_per_token() {
    let app = TestApp::spawn().await;
    let replica = replica(&app, limits(|l| l.authenticated = per_hour(3))).await;
    let (alice, bob) = (app.sign_up("alice").await, app.sign_up("bob").await);
    let verify = replica.url("/api/v1/accounts/verify_credentials");
    for remaining in [2, 1, 0] {
        let response = app.get_as(&verify, &alice.token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_rate_headers(&response, 3, remaining);
    }
    assert_too_many(app.get_as(&verify, &alice.token).await, 3).await;
    // the token in the query (streaming's way) is the same token
    assert_too_many(app.get(format!("{verify}?access_token={}", alice.token)).await, 3).await;
    let response = app.get_as(&verify, &bob.token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_rate_headers(&response, 3, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_ups_are_limited_per_ip() {
    let app = TestApp::spawn().await;
    let replica = replica(&app, limits(|l| l.signups = per_hour(2))).await;
    let app_token = app.app_token().await;
    let sign_up = |username: &str| {
        app.http
            .post(replica.url("/api/v1/accounts"))
            .bearer_auth(&app_token)
            .json(&sign_up_form(username))
            .send()
    };
    for (username, remaining) in [("ann", 1), ("ben", 0)] {
        let response = sign_up(username).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // the sign-up limit is the most limited one, so its headers are sent
        assert_rate_headers(&response, 2, remaining);
    }
    assert_too_many(sign_up("cat").await.unwrap(), 2).await;
    // other requests from the same IP go on
    let response = app.get_as(replica.url("/api/v1/instance"), &app_token).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_attempts_are_limited_per_ip() {
    let app = TestApp::spawn().await;
    let replica = replica(&app, limits(|l| l.sign_ins = per_hour(3))).await;
    app.sign_up("alice").await;
    let (id, secret) = app.register_app().await;
    let grant = |grant_type: &str, password: &str| {
        app.http
            .post(replica.url("/oauth/token"))
            .form(&[
                ("grant_type", grant_type),
                ("client_id", &id),
                ("client_secret", &secret),
                ("username", "alice@example.org"),
                ("password", password),
            ])
            .send()
    };
    // an app's own token is not a sign-in: only the general limit counts it
    let response = grant("client_credentials", "").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_rate_headers(&response, 1_000_000, 999_999);
    // failed and successful password grants count alike, as Mastodon's attempts do
    let response = grant("password", "wrong horse battery").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_rate_headers(&response, 3, 2);
    let response = grant("password", "correct horse battery").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_rate_headers(&response, 3, 1);
    // the browser sign-in form counts too, whatever becomes of it
    let response = app.http.post(replica.url("/oauth/sign_in")).form(&[("email", "x")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "no CSRF cookie");
    assert_rate_headers(&response, 3, 0);
    assert_too_many(grant("password", "correct horse battery").await.unwrap(), 3).await;
    // a grant in a JSON body is read as the handler reads it
    let json = serde_json::json!({
        "grant_type": "password", "client_id": id, "client_secret": secret,
        "username": "alice@example.org", "password": "correct horse battery",
    });
    assert_too_many(app.http.post(replica.url("/oauth/token")).json(&json).send().await.unwrap(), 3).await;
    // other grants from the same IP go on
    assert_eq!(grant("client_credentials", "").await.unwrap().status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let app = TestApp::spawn().await;
    let trusted = replica(
        &app,
        limits(|l| {
            l.unauthenticated = per_hour(2);
            l.trusted_proxies = "127.0.0.0/8".parse().unwrap();
        }),
    )
    .await;
    let untrusted = replica(
        &app,
        limits(|l| {
            l.unauthenticated = per_hour(2);
            l.trusted_proxies = TrustedProxies(Vec::new());
        }),
    )
    .await;
    let get = |replica: &Replica, forwarded: &str| {
        app.http.get(replica.url("/api/v1/instance")).header("x-forwarded-for", forwarded.to_owned()).send()
    };
    // from a trusted peer, each client is counted by its own address
    for remaining in [1, 0] {
        let response = get(&trusted, "198.51.100.1").await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_rate_headers(&response, 2, remaining);
    }
    assert_too_many(get(&trusted, "198.51.100.1").await.unwrap(), 2).await;
    // what the client put in front of the proxy's entry changes nothing
    assert_too_many(get(&trusted, "203.0.113.77, 198.51.100.1").await.unwrap(), 2).await;
    let response = get(&trusted, "198.51.100.2").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_rate_headers(&response, 2, 1);
    // IPv6 clients by /64: two addresses of one /64 share a count, another /64 has its own
    assert_eq!(get(&trusted, "2001:db8:0:1::1").await.unwrap().status(), StatusCode::OK);
    assert_eq!(get(&trusted, "2001:db8:0:1:ffff::2").await.unwrap().status(), StatusCode::OK);
    assert_too_many(get(&trusted, "2001:db8:0:1::3").await.unwrap(), 2).await;
    assert_eq!(get(&trusted, "2001:db8:0:2::1").await.unwrap().status(), StatusCode::OK);

    // from an untrusted peer the header is ignored: all three are 127.0.0.1
    assert_eq!(get(&untrusted, "192.0.2.1").await.unwrap().status(), StatusCode::OK);
    assert_eq!(get(&untrusted, "192.0.2.2").await.unwrap().status(), StatusCode::OK);
    assert_too_many(get(&untrusted, "192.0.2.3").await.unwrap(), 2).await;
}

/// A second token of `user`'s account, through the password grant.
async fn second_token(app: &TestApp, username: &str) -> String {
    let (id, secret) = app.register_app().await;
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("username", &format!("{username}@example.org")),
            ("password", "correct horse battery"),
            ("scope", "read write follow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn statuses_and_follows_are_limited_per_account() {
    let app = TestApp::spawn().await;
    let day = Duration::from_hours(24);
    let replica = replica(
        &app,
        limits(|l| {
            l.statuses = Limit::new(2, day);
            l.follows = Limit::new(1, day);
        }),
    )
    .await;
    let alice = app.sign_up("alice").await;
    let post = |token: &str, text: &str| {
        app.http
            .post(replica.url("/api/v1/statuses"))
            .bearer_auth(token)
            .json(&json!({ "status": text }))
            .send()
    };
    // a post that fails is not counted, as Mastodon records only what was created
    let response = post(&alice.token, "").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for (text, remaining) in [("one", 1), ("two", 0)] {
        let response = post(&alice.token, text).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "x-ratelimit-limit"), "2");
        assert_eq!(header(&response, "x-ratelimit-remaining"), remaining.to_string());
    }
    let refused = post(&alice.token, "three").await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "x-ratelimit-remaining"), "0");
    // per account, not per token: another sign-in does not start over
    let other_token = second_token(&app, "alice").await;
    assert_eq!(post(&other_token, "four").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    // nothing was stored for the refused posts
    let statuses: i64 =
        sqlx::query_scalar("SELECT count(*) FROM statuses").fetch_one(app.deps.store.pool()).await.unwrap();
    assert_eq!(statuses, 2);

    let (bob, carol): (User, User) = (app.sign_up("bob").await, app.sign_up("carol").await);
    let follow = |target: &User| {
        app.http
            .post(replica.url(&format!("/api/v1/accounts/{}/follow", target.id)))
            .bearer_auth(&alice.token)
            .send()
    };
    let response = follow(&bob).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "x-ratelimit-limit"), "1");
    assert_eq!(header(&response, "x-ratelimit-remaining"), "0");
    let refused = follow(&carol).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.json::<Value>().await.unwrap(), json!({ "error": "Too many requests" }));
    // other accounts are not held back
    assert_eq!(post(&bob.token, "bob's").await.unwrap().status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_are_limited_per_account_and_a_refused_one_is_not_counted() {
    let app = TestApp::spawn().await;
    let replica = replica(&app, limits(|l| l.media = Limit::new(2, Duration::from_hours(24)))).await;
    let alice = app.sign_up("alice").await;
    let png = crate::media::files::png_rgb(&crate::media::files::gradient(16, 16)).unwrap();
    let upload = |bytes: Vec<u8>| {
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name("a.png"));
        app.http.post(replica.url("/api/v2/media")).bearer_auth(&alice.token).multipart(form).send()
    };
    // a text file is refused, and not counted
    assert_eq!(upload(b"not a picture".to_vec()).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    for remaining in [1, 0] {
        let response = upload(png.clone()).await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        assert_eq!(header(&response, "x-ratelimit-limit"), "2");
        assert_eq!(header(&response, "x-ratelimit-remaining"), remaining.to_string());
    }
    let refused = upload(png).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.json::<Value>().await.unwrap(), json!({ "error": "Too many requests" }));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM media_attachments")
        .fetch_one(app.deps.store.pool())
        .await
        .unwrap();
    assert_eq!(stored, 2, "the refused upload stored nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_redis_requests_are_served_unlimited() {
    let app = TestApp::spawn().await;
    // nothing listens on port 1: every count fails
    let conn = Connections { redis_url: "redis://127.0.0.1:1".to_owned(), ..app.conn.clone() };
    let replica =
        Replica::start(&app, &conn, |s| s.rate_limits = limits(|l| l.unauthenticated = per_hour(1))).await;
    for _ in 0..3 {
        let response = app.get(replica.url("/api/v1/instance")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("x-ratelimit-limit").is_none());
    }
}

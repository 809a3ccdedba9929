//! Apps, tokens and the password grant; secrets are stored only as hashes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_error};

#[tokio::test]
async fn app_registration_validates_its_input() {
    let app = TestApp::spawn().await;
    let post = |body: Value| app.http.post(app.url("/api/v1/apps")).json(&body).send();
    let ok: Value = post(json!({ "client_name": "Ivory", "redirect_uris": ["myapp://cb", "urn:ietf:wg:oauth:2.0:oob"], "scopes": "read write", "website": "https://ivory.example" }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok["name"], "Ivory");
    assert_eq!(ok["redirect_uris"], json!(["myapp://cb", "urn:ietf:wg:oauth:2.0:oob"]));
    assert_eq!(ok["redirect_uri"], "myapp://cb\nurn:ietf:wg:oauth:2.0:oob");
    assert_eq!(ok["scopes"], json!(["read", "write"]));
    assert!(ok["client_secret"].as_str().unwrap().len() >= 32);
    // Ice Cubes registers a bare custom scheme, as Mastodon accepts
    let ice_cubes =
        post(json!({ "client_name": "Ice Cubes", "redirect_uris": "icecubesapp://", "scopes": "read" }))
            .await
            .unwrap();
    assert_eq!(ice_cubes.status(), StatusCode::OK);
    assert_eq!(ice_cubes.json::<Value>().await.unwrap()["redirect_uri"], "icecubesapp://");

    for bad in [
        json!({ "redirect_uris": "urn:ietf:wg:oauth:2.0:oob" }),
        json!({ "client_name": "x" }),
        json!({ "client_name": "x", "redirect_uris": "not a uri" }),
        json!({ "client_name": "x", "redirect_uris": "myapp:opaque" }),
        json!({ "client_name": "x", "redirect_uris": "https://app.example/cb#fragment" }),
        json!({ "client_name": "x", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read everything" }),
    ] {
        expect_error(post(bad.clone()).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let apps: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_applications")
        .fetch_one(app.deps.store.pool())
        .await
        .unwrap();
    assert_eq!(apps, 2);
}

#[tokio::test]
async fn token_endpoint_speaks_oauth_errors() {
    let app = TestApp::spawn().await;
    app.sign_up("alice").await;
    let (id, secret) = app.register_app().await;
    let token = |form: Vec<(&'static str, String)>| app.http.post(app.url("/oauth/token")).form(&form).send();

    let good = token(vec![
        ("grant_type", "password".into()),
        ("client_id", id.clone()),
        ("client_secret", secret.clone()),
        ("username", "ALICE@example.org".into()),
        ("password", "correct horse battery".into()),
    ])
    .await
    .unwrap();
    assert_eq!(good.status(), StatusCode::OK);
    let good: Value = good.json().await.unwrap();
    assert_eq!(good["token_type"], "Bearer");
    assert_eq!(good["scope"], "read write follow");
    let me =
        app.get_json(good["access_token"].as_str().unwrap(), "/api/v1/accounts/verify_credentials").await;
    assert_eq!(me["username"], "alice");

    let cases = [
        (
            vec![
                ("grant_type", "password".into()),
                ("client_id", id.clone()),
                ("client_secret", secret.clone()),
                ("username", "alice".into()),
                ("password", "wrong password".into()),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "password".into()),
                ("client_id", id.clone()),
                ("client_secret", secret.clone()),
                ("username", "nobody".into()),
                ("password", "whatever1".into()),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", id.clone()),
                ("client_secret", "wrong".into()),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (vec![("grant_type", "client_credentials".into())], StatusCode::UNAUTHORIZED, "invalid_client"),
        (
            vec![
                ("grant_type", "magic".into()),
                ("client_id", id.clone()),
                ("client_secret", secret.clone()),
            ],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", id.clone()),
                ("client_secret", secret.clone()),
                ("scope", "push".into()),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
    ];
    for (form, status, error) in cases {
        let response = token(form).await.unwrap();
        let body = expect_error(response, status).await;
        assert_eq!(body["error"], error);
        assert!(body["error_description"].is_string());
    }
}

#[tokio::test]
async fn tokens_and_secrets_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    let user = app.sign_up("alice").await;
    let pool = app.deps.store.pool();
    let token_in_clear: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM oauth_access_tokens WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'",
    )
    .bind(&user.token)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(token_in_clear, 0);
    let hashed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM oauth_access_tokens WHERE token_hash = sha256($1::bytea)")
            .bind(user.token.as_bytes())
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(hashed, 1);
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users").fetch_one(pool).await.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("correct horse"));
}

/// The browser side of the `authorization_code` grant, spoken over plain HTTP: cookies and
/// hidden fields carried by hand, redirects not followed.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http, base: app.base.clone(), cookie: None }
    }

    fn keep_cookie(&mut self, response: &reqwest::Response) {
        if let Some(set) = response.headers().get("set-cookie") {
            let set = set.to_str().unwrap();
            assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
            self.cookie = Some(set.split(';').next().unwrap().to_owned());
        }
    }

    pub async fn get(&mut self, query: &[(&str, &str)]) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let mut request = self.http.get(format!("{}/oauth/authorize", self.base)).query(query);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        self.keep_cookie(&response);
        (response.status(), response.headers().clone(), response.text().await.unwrap())
    }

    /// Submits the page's form (its hidden fields) with `extra` fields added.
    pub async fn submit(
        &mut self,
        page: &str,
        extra: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let action = between(page, "<form method=\"post\" action=\"", "\"").unwrap();
        let mut form: Vec<(String, String)> = hidden_fields(page);
        for (name, value) in extra {
            form.retain(|(n, _)| n != name);
            form.push(((*name).to_owned(), (*value).to_owned()));
        }
        let mut request = self.http.post(format!("{}{action}", self.base)).form(&form);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        self.keep_cookie(&response);
        (response.status(), response.headers().clone(), response.text().await.unwrap())
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

fn hidden_fields(page: &str) -> Vec<(String, String)> {
    page.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|field| {
            let name = between(field, "name=\"", "\"").unwrap().to_owned();
            let value = between(field, "value=\"", "\"")
                .unwrap()
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&");
            (name, value)
        })
        .collect()
}

async fn register(app: &TestApp, redirect_uris: &[&str], scopes: &str) -> (String, String) {
    let body: Value = app
        .http
        .post(app.url("/api/v1/apps"))
        .json(&json!({ "client_name": "Phanpy", "redirect_uris": redirect_uris, "scopes": scopes }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (body["client_id"].as_str().unwrap().to_owned(), body["client_secret"].as_str().unwrap().to_owned())
}

fn location(headers: &reqwest::header::HeaderMap) -> reqwest::Url {
    reqwest::Url::parse(headers.get("location").expect("a redirect").to_str().unwrap()).unwrap()
}

fn query_param(url: &reqwest::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(n, _)| n == name).map(|(_, v)| v.into_owned())
}

const CALLBACK: &str = "http://127.0.0.1:9/callback";

#[tokio::test]
async fn authorization_code_with_pkce_signs_in_through_the_page() {
    let app = TestApp::spawn().await;
    app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let (id, secret) = register(&app, &[CALLBACK, "urn:ietf:wg:oauth:2.0:oob"], "read write follow").await;
    let mut browser = Browser::new(&app);
    let query = [
        ("response_type", "code"),
        ("client_id", id.as_str()),
        ("redirect_uri", CALLBACK),
        ("scope", "read write:statuses"),
        ("state", "xyz<&>"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let (status, headers, page) = browser.get(&query).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("name=\"password\""));
    assert!(!page.contains("<script"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.contains_key("referrer-policy"));
    let pre_login_cookie = browser.cookie.clone();

    let (status, headers, consent) =
        browser.submit(&page, &[("email", "alice@example.org"), ("password", "correct horse battery")]).await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    assert!(consent.contains("Phanpy") && consent.contains("write:statuses") && consent.contains("@alice"));
    assert_ne!(browser.cookie, pre_login_cookie, "signing in replaces the cookie");
    // the consent form may end up at the app: browsers apply form-action to that redirect
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("form-action 'self' http://127.0.0.1:9")
    );

    let (status, headers, _) = browser.submit(&consent, &[("decision", "authorize")]).await;
    assert_eq!(status, StatusCode::FOUND);
    let to = location(&headers);
    assert_eq!(&to.as_str()[..CALLBACK.len()], CALLBACK);
    assert_eq!(query_param(&to, "state").as_deref(), Some("xyz<&>"));
    let code = query_param(&to, "code").unwrap();
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM oauth_access_grants WHERE code_hash = sha256($1::bytea)")
            .bind(code.as_bytes())
            .fetch_one(app.deps.store.pool())
            .await
            .unwrap();
    assert_eq!(stored, 1, "the code is stored as its hash");

    let exchange = |verifier: &'static str, redirect: &'static str, secret: String| {
        app.http
            .post(app.url("/oauth/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("client_id", id.as_str()),
                ("client_secret", secret.as_str()),
                ("redirect_uri", redirect),
                ("code_verifier", verifier),
            ])
            .send()
    };
    // a wrong verifier, redirect URI or secret uses nothing up
    for (verifier, redirect, secret, status, error) in [
        (
            "wrong-verifier-wrong-verifier-wrong-verifier",
            CALLBACK,
            secret.clone(),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (VERIFIER, "urn:ietf:wg:oauth:2.0:oob", secret.clone(), StatusCode::BAD_REQUEST, "invalid_grant"),
        (VERIFIER, CALLBACK, "nope".to_owned(), StatusCode::UNAUTHORIZED, "invalid_client"),
    ] {
        let body = expect_error(exchange(verifier, redirect, secret).await.unwrap(), status).await;
        assert_eq!(body["error"], error);
        assert!(body["error_description"].is_string());
    }
    let response = exchange(VERIFIER, CALLBACK, secret.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token: Value = response.json().await.unwrap();
    assert_eq!(token["scope"], "read write:statuses");
    let token = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_json(&token, "/api/v1/accounts/verify_credentials").await["username"], "alice");
    let posted =
        app.post_json_as(app.url("/api/v1/statuses"), &token, &json!({ "status": "via the page" })).await;
    assert_eq!(posted.status(), StatusCode::OK);
    let follow =
        app.http.post(app.url(&format!("/api/v1/accounts/{}/follow", bob.id))).bearer_auth(&token).send();
    expect_error(follow.await.unwrap(), StatusCode::FORBIDDEN).await;

    // a code works once; its reuse fails and revokes nothing
    let reuse =
        expect_error(exchange(VERIFIER, CALLBACK, secret.clone()).await.unwrap(), StatusCode::BAD_REQUEST)
            .await;
    assert_eq!(reuse["error"], "invalid_grant");
    assert_eq!(app.get_json(&token, "/api/v1/accounts/verify_credentials").await["username"], "alice");

    // signed in, the page goes straight to the authorize step; force_login asks again
    let (_, _, again) = browser.get(&query).await;
    assert!(again.contains("Authorization required"), "{again}");
    let mut forced = query.to_vec();
    forced.push(("force_login", "true"));
    let (_, _, login) = browser.get(&forced).await;
    assert!(login.contains("name=\"password\""));
}

#[tokio::test]
async fn authorize_page_refuses_what_it_must() {
    let app = TestApp::spawn().await;
    app.sign_up("alice").await;
    let (id, _) = register(&app, &[CALLBACK], "read write").await;
    let mut browser = Browser::new(&app);
    let base = |redirect: &'static str| {
        vec![
            ("response_type", "code"),
            ("client_id", id.as_str()),
            ("redirect_uri", redirect),
            ("scope", "read"),
            ("state", "s1"),
        ]
    };

    // no open redirects: an unregistered redirect URI or an unknown app is a page
    for redirect in
        ["http://evil.example/callback", "http://127.0.0.1:9/callback/../x", "urn:ietf:wg:oauth:2.0:oob"]
    {
        let (status, headers, page) = browser.get(&base(redirect)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{redirect}");
        assert!(!headers.contains_key("location"));
        assert!(page.contains("redirect uri"), "{page}");
    }
    let mut unknown = base(CALLBACK);
    unknown[1] = ("client_id", "nope");
    let (status, headers, _) = browser.get(&unknown).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!headers.contains_key("location"));

    // anything else wrong goes back to the app as an OAuth error
    for (extra, error) in [
        (vec![("code_challenge", CHALLENGE), ("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge", CHALLENGE)], "invalid_request"),
        (vec![("code_challenge", "short"), ("code_challenge_method", "S256")], "invalid_request"),
        (vec![("scope", "read follow")], "invalid_scope"),
        (vec![("response_type", "token")], "unsupported_response_type"),
    ] {
        let mut query = base(CALLBACK);
        for (name, value) in extra {
            query.retain(|(n, _)| *n != name);
            query.push((name, value));
        }
        let (status, headers, _) = browser.get(&query).await;
        assert_eq!(status, StatusCode::FOUND);
        let to = location(&headers);
        assert_eq!(query_param(&to, "error").as_deref(), Some(error));
        assert_eq!(query_param(&to, "state").as_deref(), Some("s1"));
    }

    // CSRF: a tampered token, or a form without the cookie, is refused
    let (_, _, page) = browser.get(&base(CALLBACK)).await;
    let sign_in = [("email", "alice@example.org"), ("password", "correct horse battery")];
    let tampered = [("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), sign_in[0], sign_in[1]];
    let (status, _, refused) = browser.submit(&page, &tampered).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!refused.contains("Authorization required"));
    let mut cookieless = Browser::new(&app);
    let (status, _, _) = cookieless.submit(&page, &sign_in).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // a wrong password shows the form again with an error
    let (status, _, wrong) =
        browser.submit(&page, &[("email", "alice@example.org"), ("password", "not her password")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.contains("Invalid email or password"));

    // deny: the app hears access_denied, and no code exists
    let (_, _, consent) = browser.submit(&wrong, &sign_in).await;
    assert!(consent.contains("Authorization required"), "{consent}");
    let (status, headers, _) = browser.submit(&consent, &[("decision", "deny")]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(query_param(&location(&headers), "error").as_deref(), Some("access_denied"));
    let codes: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_access_grants")
        .fetch_one(app.deps.store.pool())
        .await
        .unwrap();
    assert_eq!(codes, 0);
    // the consent form's fields are checked again: a widened scope goes nowhere
    let (status, headers, _) =
        browser.submit(&consent, &[("decision", "authorize"), ("scope", "read write follow")]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(query_param(&location(&headers), "error").as_deref(), Some("invalid_scope"));
}

#[tokio::test]
async fn oob_shows_the_code_and_codes_expire() {
    let app = TestApp::spawn().await;
    app.sign_up("alice").await;
    let (id, secret) = register(&app, &["urn:ietf:wg:oauth:2.0:oob"], "read").await;
    let mut browser = Browser::new(&app);
    // a single registered redirect URI may be left out
    let (_, _, page) = browser.get(&[("response_type", "code"), ("client_id", &id)]).await;
    let (_, _, consent) =
        browser.submit(&page, &[("email", "alice"), ("password", "correct horse battery")]).await;
    let (status, _, shown) = browser.submit(&consent, &[("decision", "authorize")]).await;
    assert_eq!(status, StatusCode::OK);
    let code = between(&shown, "readonly value=\"", "\"").unwrap().to_owned();
    sqlx::query("UPDATE oauth_access_grants SET expires_at = now() - interval '1 second'")
        .execute(app.deps.store.pool())
        .await
        .unwrap();
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("redirect_uri", "urn:ietf:wg:oauth:2.0:oob"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(expect_error(response, StatusCode::BAD_REQUEST).await["error"], "invalid_grant");
}

#[tokio::test]
async fn revoke_and_metadata() {
    let app = TestApp::spawn().await;
    app.sign_up("alice").await;
    let (id, secret) = app.register_app().await;
    let (other_id, other_secret) = app.register_app().await;
    let grant = |scope: &'static str| {
        app.http
            .post(app.url("/oauth/token"))
            .form(&[
                ("grant_type", "password"),
                ("client_id", id.as_str()),
                ("client_secret", secret.as_str()),
                ("username", "alice"),
                ("password", "correct horse battery"),
                ("scope", scope),
            ])
            .send()
    };
    let token: Value = grant("read").await.unwrap().json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let revoke = |client: &str, secret: &str, token: &str| {
        app.http
            .post(app.url("/oauth/revoke"))
            .form(&[("client_id", client), ("client_secret", secret), ("token", token)])
            .send()
    };
    let wrong_client = revoke(&id, "nope", &token).await.unwrap();
    assert_eq!(expect_error(wrong_client, StatusCode::UNAUTHORIZED).await["error"], "invalid_client");
    let other_app = revoke(&other_id, &other_secret, &token).await.unwrap();
    assert_eq!(expect_error(other_app, StatusCode::FORBIDDEN).await["error"], "unauthorized_client");
    app.get_json(&token, "/api/v1/accounts/verify_credentials").await;
    for _ in 0..2 {
        let ok = revoke(&id, &secret, &token).await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.json::<Value>().await.unwrap(), json!({}));
    }
    let gone = app.get_as(app.url("/api/v1/accounts/verify_credentials"), &token).await;
    expect_error(gone, StatusCode::UNAUTHORIZED).await;
    let unknown = revoke(&id, &secret, "never-issued").await.unwrap();
    assert_eq!(unknown.status(), StatusCode::OK);

    let meta: Value = app.get(app.url("/.well-known/oauth-authorization-server")).await.json().await.unwrap();
    assert_eq!(meta["issuer"], format!("{}/", app.base));
    assert_eq!(meta["authorization_endpoint"], app.url("/oauth/authorize"));
    assert_eq!(meta["token_endpoint"], app.url("/oauth/token"));
    assert_eq!(meta["revocation_endpoint"], app.url("/oauth/revoke"));
    assert_eq!(meta["app_registration_endpoint"], app.url("/api/v1/apps"));
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(meta["response_types_supported"], json!(["code"]));
    assert_eq!(
        meta["grant_types_supported"],
        json!(["authorization_code", "password", "client_credentials"])
    );
    let scopes = meta["scopes_supported"].as_array().unwrap();
    for scope in ["read", "write", "follow", "push", "read:statuses", "write:follows"] {
        assert!(scopes.contains(&json!(scope)), "{scope}");
    }
}

#[tokio::test]
async fn granular_scopes_are_enforced_both_ways() {
    let app = TestApp::spawn().await;
    app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let (id, secret) = register(&app, &["urn:ietf:wg:oauth:2.0:oob"], "read write follow push").await;
    let token_for = |scope: &'static str| app.password_token(&id, &secret, "alice", scope);
    let can = |token: String, what: &'static str| {
        let app = &app;
        let bob = bob.id.clone();
        async move {
            let response = match what {
                "post" => {
                    app.post_json_as(app.url("/api/v1/statuses"), &token, &json!({ "status": "hi" })).await
                }
                "me" => app.get_as(app.url("/api/v1/accounts/verify_credentials"), &token).await,
                "home" => app.get_as(app.url("/api/v1/timelines/home"), &token).await,
                action => app
                    .http
                    .post(app.url(&format!("/api/v1/accounts/{bob}/{action}")))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap(),
            };
            match response.status() {
                StatusCode::OK => true,
                StatusCode::FORBIDDEN => {
                    let body: Value = response.json().await.unwrap();
                    assert_eq!(body["error"], "This action is outside the authorized scopes");
                    false
                }
                other => panic!("{what}: {other}"),
            }
        }
    };
    for (scope, what, allowed) in [
        ("write", "post", true),
        ("write:statuses", "post", true),
        ("write:statuses", "follow", false),
        ("write:statuses", "me", false),
        ("write:follows", "post", false),
        ("write:follows", "follow", true),
        ("follow", "follow", true),
        ("follow", "block", true),
        ("follow", "mute", true),
        ("follow", "post", false),
        ("write", "block", true),
        ("write:blocks", "mute", false),
        ("read", "me", true),
        ("read", "post", false),
        ("read:accounts", "me", true),
        ("read:accounts", "home", false),
        ("read:statuses", "home", true),
        ("push", "me", false),
    ] {
        assert_eq!(can(token_for(scope).await, what).await, allowed, "{scope} {what}");
    }
}

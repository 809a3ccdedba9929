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

    for bad in [
        json!({ "redirect_uris": "urn:ietf:wg:oauth:2.0:oob" }),
        json!({ "client_name": "x" }),
        json!({ "client_name": "x", "redirect_uris": "not a uri" }),
        json!({ "client_name": "x", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read everything" }),
    ] {
        expect_error(post(bad.clone()).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let apps: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_applications")
        .fetch_one(app.deps.store.pool())
        .await
        .unwrap();
    assert_eq!(apps, 1);
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

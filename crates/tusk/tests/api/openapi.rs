//! The OpenAPI document at `/api/openapi.json`: it names every route of the router, real
//! responses match its schemas, and every operation answers bad requests (no token, a token
//! without the scope) with a status the document lists and a JSON `{"error"}`. The property-based
//! fuzz run against the same document is `deploy/fuzz/run.sh`.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, User, expect_error};

async fn document(app: &TestApp) -> Value {
    let response = app.get(app.url("/api/openapi.json")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    response.json().await.unwrap()
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((method.to_uppercase(), path.clone(), operation.clone()));
        }
    }
    all
}

#[tokio::test]
async fn the_document_lists_every_route_of_the_router() {
    let app = TestApp::spawn_api_only().await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let documented: BTreeSet<(String, String)> =
        operations(&doc).into_iter().map(|(method, path, _)| (method, path)).collect();
    // the document served is the one built from the code, whose routes are the router's
    // (tusk-api's unit test `every_route_is_documented_and_nothing_else` reads router.rs)
    let routes = tusk_api::routes();
    assert!(routes.len() > 40, "{routes:?}");
    assert_eq!(documented, routes);
    // the bearer scheme with Mastodon's scopes, and the error body every 4xx refers to
    let scopes = &doc["components"]["securitySchemes"]["OAuth2"]["flows"]["password"]["scopes"];
    for scope in ["read", "write:statuses", "follow", "read:accounts"] {
        assert!(scopes.get(scope).is_some(), "{scope} missing from {scopes}");
    }
    assert_eq!(doc["components"]["schemas"]["Error"]["required"], json!(["error"]));
    let delete = &doc["paths"]["/api/v1/statuses/{id}"]["delete"];
    assert_eq!(delete["security"], json!([{ "OAuth2": ["write:statuses"] }]));
    // the actions share one list of answers (ActionAnswers), each with its own body
    for (path, schema) in [
        ("/api/v1/accounts/{id}/block", "Relationship"),
        ("/api/v1/follow_requests/{id}/authorize", "Relationship"),
        ("/api/v1/statuses/{id}/favourite", "Status"),
    ] {
        let responses = &doc["paths"][path]["post"]["responses"];
        let body = &responses["200"]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(body, &json!(format!("#/components/schemas/{schema}")), "{path}: {responses}");
        for status in ["401", "403", "404", "422", "503"] {
            assert!(responses.get(status).is_some(), "{path}: no {status} in {responses}");
        }
    }
    assert_eq!(delete["responses"]["404"]["$ref"], "#/components/responses/NotFound");
    let stream = &doc["paths"]["/api/v1/streaming/public"]["get"]["responses"]["200"]["content"];
    assert!(stream.get("text/event-stream").is_some(), "{stream}");
}

/// Checks `value` against `schema` (a subset of JSON Schema: `$ref`, `type`, `required`,
/// `properties`, `items`, `oneOf`, `enum`); also that an object has no field the schema does
/// not name. Returns what does not match.
fn mismatches(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return mismatches(doc, &doc["components"]["schemas"][name], value, at, out);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let fits = options.iter().filter(|option| {
            let mut errors = Vec::new();
            mismatches(doc, option, value, at, &mut errors);
            errors.is_empty()
        });
        if fits.count() != 1 {
            out.push(format!("{at}: {value} fits not exactly one of {schema}"));
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let fits =
        types.is_empty() || types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
    if !fits {
        out.push(format!("{at}: {actual}, documented {types:?}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        out.push(format!("{at}: {value} not in {allowed:?}"));
    }
    match value {
        Value::Object(object) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                if !object.contains_key(required.as_str().unwrap()) {
                    out.push(format!("{at}: required {required} missing"));
                }
            }
            if let Some(properties) = schema["properties"].as_object() {
                for (name, field) in object {
                    match properties.get(name) {
                        Some(property) => mismatches(doc, property, field, &format!("{at}.{name}"), out),
                        None => out.push(format!("{at}.{name}: not in the document")),
                    }
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                mismatches(doc, &schema["items"], item, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Asserts that `body` is what the document says `METHOD path` answers with `status`.
fn assert_documented(doc: &Value, method: &str, path: &str, status: StatusCode, body: &Value) {
    let operation = &doc["paths"][path][method.to_lowercase()];
    let mut response = &operation["responses"][status.as_str()];
    if let Some(reference) = response["$ref"].as_str() {
        response = &doc["components"]["responses"][reference.rsplit('/').next().unwrap()];
    }
    let schema = &response["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {path}: no JSON schema for {status}");
    let mut out = Vec::new();
    mismatches(doc, schema, body, "$", &mut out);
    assert!(out.is_empty(), "{method} {path} {status} does not match the document: {out:#?}");
}

#[tokio::test]
async fn real_responses_match_the_document() {
    let app = TestApp::spawn_api_only().await;
    let doc = document(&app).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let status = app.post_status(&alice, "Hello, document").await;
    assert_documented(&doc, "POST", "/api/v1/statuses", StatusCode::OK, &status);
    let id = status["id"].as_str().unwrap();
    let reply = app
        .post_json_as(
            app.url("/api/v1/statuses"),
            &bob.token,
            &json!({ "status": "@alice hi", "in_reply_to_id": id, "spoiler_text": "cw" }),
        )
        .await;
    assert_eq!(reply.status(), StatusCode::OK);
    let reblog =
        app.post_json_as(app.url(&format!("/api/v1/statuses/{id}/reblog")), &bob.token, &json!({})).await;
    assert_eq!(reblog.status(), StatusCode::OK);
    let reblog: Value = reblog.json().await.unwrap();
    assert_documented(&doc, "POST", "/api/v1/statuses/{id}/reblog", StatusCode::OK, &reblog);
    let relationship = app.follow(&bob, &alice).await;
    assert_documented(&doc, "POST", "/api/v1/accounts/{id}/follow", StatusCode::OK, &relationship);

    let reads = [
        ("/api/v1/statuses/{id}", format!("/api/v1/statuses/{id}")),
        ("/api/v1/statuses/{id}/context", format!("/api/v1/statuses/{id}/context")),
        ("/api/v1/accounts/verify_credentials", "/api/v1/accounts/verify_credentials".to_owned()),
        ("/api/v1/accounts/{id}", format!("/api/v1/accounts/{}", alice.id)),
        ("/api/v1/accounts/relationships", format!("/api/v1/accounts/relationships?id[]={}", alice.id)),
        ("/api/v1/accounts/{id}/followers", format!("/api/v1/accounts/{}/followers", alice.id)),
        ("/api/v1/accounts/{id}/statuses", format!("/api/v1/accounts/{}/statuses", bob.id)),
        ("/api/v1/timelines/home", "/api/v1/timelines/home".to_owned()),
        ("/api/v1/timelines/public", "/api/v1/timelines/public".to_owned()),
    ];
    for (template, path) in reads {
        let body = app.get_json(&bob.token, &path).await;
        assert!(
            body.as_object().is_some_and(|o| !o.is_empty()) || body.as_array().is_some_and(|a| !a.is_empty()),
            "{path}: nothing to check in {body}"
        );
        assert_documented(&doc, "GET", template, StatusCode::OK, &body);
    }

    // errors: the shape every 4xx refers to, `details` included
    let taken = app
        .post_json_as(
            app.url("/api/v1/accounts"),
            app.app_token().await,
            &crate::helpers::sign_up_form("alice"),
        )
        .await;
    let taken = expect_error(taken, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(taken["details"]["username"].is_array(), "{taken}");
    assert_documented(&doc, "POST", "/api/v1/accounts", StatusCode::UNPROCESSABLE_ENTITY, &taken);
    let missing =
        expect_error(app.get_as(app.url("/api/v1/statuses/999999"), &bob.token).await, StatusCode::NOT_FOUND)
            .await;
    assert_documented(&doc, "GET", "/api/v1/statuses/{id}", StatusCode::NOT_FOUND, &missing);
}

/// A password-grant token of `email`'s user with only `scope`.
async fn token_with_scope(app: &TestApp, email: &str, scope: &str) -> String {
    let (id, secret) = app.register_app().await;
    let response = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("username", email),
            ("password", "correct horse battery"),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// Sends `METHOD path` (ids filled in) with an empty JSON body for writes.
async fn call(app: &TestApp, method: &str, path: &str, id: &str, token: Option<&str>) -> reqwest::Response {
    let url = app.url(&path.replace("{id}", id));
    let mut request = reqwest::Client::new().request(Method::from_bytes(method.as_bytes()).unwrap(), url);
    if method != "GET" {
        request = request.json(&json!({}));
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn bad_requests_get_a_documented_status_and_an_error_body() {
    let app = TestApp::spawn_api_only().await;
    let doc = document(&app).await;
    let alice: User = app.sign_up("alice").await;
    let read_only = token_with_scope(&app, "alice@example.org", "read").await;
    let write_only = token_with_scope(&app, "alice@example.org", "write").await;
    for (method, path, operation) in operations(&doc) {
        let documented = |status: StatusCode| operation["responses"].get(status.as_str()).is_some();
        let streams = operation["responses"]["200"]["content"].get("text/event-stream").is_some();
        if streams && operation.get("security").is_none() {
            continue; // a public stream opens for anyone: nothing here is a bad request
        }
        // no token, a token that is not one, an id that is no number, an id of nobody
        let cases: [(Option<&str>, &str); 3] =
            [(Some("not-a-token"), &alice.id), (None, "not-a-number"), (None, "999999")];
        for (token, id) in cases {
            let response = call(&app, &method, &path, id, token).await;
            let status = response.status();
            assert!(!status.is_server_error(), "{method} {path}: {status}");
            assert!(
                documented(status),
                "{method} {path} (token {token:?}, id {id}): {status} is not documented"
            );
            let is_json = response
                .headers()
                .get("content-type")
                .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
            if status.is_client_error() && is_json {
                let body: Value = response.json().await.unwrap();
                assert!(body["error"].is_string(), "{method} {path}: {body}");
            }
        }
        // a token without the scope the operation needs: 403, before anything is read or written
        let scopes: Vec<&str> = operation["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|requirement| requirement["OAuth2"].as_array())
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if let Some(scope) = scopes.first() {
            let token = if scope.starts_with("read") { &write_only } else { &read_only };
            let response = call(&app, &method, &path, &alice.id, Some(token)).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path} without {scope}");
            let body = expect_error(response, StatusCode::FORBIDDEN).await;
            assert_eq!(body["error"], "This action is outside the authorized scopes", "{method} {path}");
        }
    }
}

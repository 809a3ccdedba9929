//! HTTP hardening: the body size limit (413 in JSON), CORS as Mastodon sets it (API, token and
//! discovery paths only, preflights never counted by the rate limits) and the security headers.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{TestApp, expect_error};

const ORIGIN: &str = "https://app.example";

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|value| value.to_str().unwrap())
}

/// Sends `head` (request line and headers, no body) over a raw connection and returns the
/// status code and the body of the answer: reqwest would send the body it declares, and a
/// server that answers before reading a body may reset the connection under the answer.
async fn raw_request(app: &TestApp, head: &str) -> (u16, Vec<u8>) {
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    let read_answer = async {
        loop {
            let n = stream.read(&mut buffer).await.unwrap();
            received.extend_from_slice(&buffer[..n]);
            let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
                assert!(n > 0, "the connection closed before the answer's head");
                continue;
            };
            let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map(|value| value.trim().parse().unwrap())
                .expect("a content-length");
            if received.len() >= end + 4 + length {
                let status = head[9..12].parse().unwrap();
                return (status, received[end + 4..end + 4 + length].to_vec());
            }
            assert!(n > 0, "the connection closed in the middle of the answer");
        }
    };
    // a guard against a hang, not a measure
    tokio::time::timeout(Duration::from_secs(20), read_answer).await.expect("an answer")
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_in_json() {
    let app = TestApp::spawn().await;
    let user = app.sign_up("alice").await;
    // declared larger than the 1 MiB limit: refused before a byte of it is read
    let head = format!(
        "POST /api/v1/statuses HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        user.token,
        2 * 1024 * 1024
    );
    let (status, body) = raw_request(&app, &head).await;
    assert_eq!(status, 413);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "The request body is too large");
    // the same on a sign-in page, and without a token
    let head = format!(
        "POST /oauth/sign_in HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n",
        1024 * 1024 + 1
    );
    assert_eq!(raw_request(&app, &head).await.0, 413);
    // a chunked body declares no length: it is cut at the limit, with the same JSON 413, on the
    // sign-in pages' forms too
    for path in ["/api/v1/statuses", "/oauth/sign_in", "/oauth/authorize"] {
        let chunk = format!("status={}", "x".repeat(1024 * 1024));
        let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(chunk)]);
        let response = app
            .http
            .post(app.url(path))
            .bearer_auth(&user.token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "The request body is too large", "{path}");
    }
    // a body within the limit is served as before
    let response = app
        .http
        .post(app.url("/api/v1/statuses"))
        .bearer_auth(&user.token)
        .json(&serde_json::json!({ "status": "small enough" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn cors_is_open_on_the_api_and_closed_on_the_browser_pages() {
    let app = TestApp::spawn().await;
    let preflight = |path: &str, method: &str| {
        app.http
            .request(Method::OPTIONS, app.url(path))
            .header("origin", ORIGIN)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };

    let response = preflight("/api/v1/statuses", "POST").await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
    let methods = header(&response, "access-control-allow-methods").unwrap();
    for method in ["POST", "PUT", "DELETE", "GET", "PATCH", "OPTIONS"] {
        assert!(methods.contains(method), "{method} not in {methods}");
    }
    // the requested headers, Authorization included (a wildcard would not cover it)
    assert_eq!(header(&response, "access-control-allow-headers"), Some("authorization,content-type"));
    assert_eq!(header(&response, "access-control-max-age"), Some("7200"));
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
    // a preflight is answered before the rate limits: not counted, no headers of theirs
    assert_eq!(header(&response, "x-ratelimit-limit"), None);

    // a simple request: any origin may read the answer and its pagination and limit headers
    let response = app.http.get(app.url("/api/v1/instance")).header("origin", ORIGIN).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
    let exposed = header(&response, "access-control-expose-headers").unwrap().to_ascii_lowercase();
    for name in ["link", "x-ratelimit-reset", "x-ratelimit-limit", "x-ratelimit-remaining", "x-request-id"] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    // an error too, so that a browser app can read it
    let response =
        app.http.get(app.url("/api/v1/no_such_thing")).header("origin", ORIGIN).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));

    // the token endpoint takes POST from anywhere; the discovery document GET
    let response = preflight("/oauth/token", "POST").await.unwrap();
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&response, "access-control-allow-methods"), Some("POST"));
    let response = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));

    // the browser pages of the authorization flow are not open to other origins
    let response = app.http.get(app.url("/oauth/authorize")).header("origin", ORIGIN).send().await.unwrap();
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    let response = preflight("/oauth/authorize", "POST").await.unwrap();
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    assert_eq!(header(&response, "access-control-allow-methods"), None);
}

#[tokio::test]
async fn security_headers_on_pages_and_api_answers() {
    let app = TestApp::spawn().await;
    // the authorize page (here its error page: no such client)
    let response = app.get(app.url("/oauth/authorize?response_type=code&client_id=nope")).await;
    assert!(header(&response, "content-type").unwrap().starts_with("text/html"));
    let csp = header(&response, "content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(header(&response, "x-frame-options"), Some("DENY"));
    assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    // the page's own policy, stricter than Mastodon's same-origin: its URL holds the request
    assert_eq!(header(&response, "referrer-policy"), Some("no-referrer"));

    // API answers: nosniff, success or error
    let response = app.get(app.url("/api/v1/instance")).await;
    assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&response, "x-frame-options"), None);
    let response = app.get(app.url("/api/v1/no_such_thing")).await;
    assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
    expect_error(response, StatusCode::NOT_FOUND).await;

    // answers that hold a token are never cached (RFC 6749 5.1)
    let (client_id, client_secret) = app.register_app().await;
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &client_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    assert_eq!(header(&response, "pragma"), Some("no-cache"));
}

//! The OAuth sign-in page in a real headless browser: Debian's chromium, driven over the W3C
//! WebDriver protocol (plain JSON over HTTP) by chromedriver. deploy/local/test.sh installs both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use helpers::TestApp;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// RFC 7636's example verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";
/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session in it; both end when dropped.
struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    child: Child,
    profile: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Driver {
    async fn start() -> Self {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(binary).exists(),
                "{binary} is missing: install Debian's chromium and chromium-driver \
                 (deploy/local/test.sh does: ensure_chromium in deploy/local/lib.sh)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::builder().timeout(Duration::from_mins(1)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let mut driver_ready = false;
        for _ in 0..100 {
            if let Ok(response) = http.get(format!("{base}/status")).send().await {
                let status: Value = response.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    driver_ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile =
            TempDir(std::env::temp_dir().join(format!("tusk-chromium-{port}-{}", std::process::id())));
        let mut driver = Self { http, base, session: String::new(), child, profile };
        assert!(driver_ready, "chromedriver did not become ready on port {port}");
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", format!("--user-data-dir={}", driver.profile.0.display()),
                ],
            },
        }}});
        let session = driver.call("POST", "/session", Some(capabilities)).await;
        driver.session = session["sessionId"].as_str().expect("a session id").to_owned();
        // element lookups wait up to 10 s for the next page to load
        driver.command("POST", "/timeouts", json!({ "implicit": 10_000, "pageLoad": 30_000 })).await;
        driver
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let response = request.send().await.expect("chromedriver answers");
        let status = response.status();
        let body: Value = response.json().await.expect("WebDriver JSON");
        assert!(status.is_success(), "WebDriver {method} {path}: {status} {body}");
        body["value"].clone()
    }

    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), Some(body)).await
    }

    async fn open(&self, url: &str) {
        self.command("POST", "/url", json!({ "url": url })).await;
    }

    async fn find(&self, css: &str) -> String {
        let element =
            self.command("POST", "/element", json!({ "using": "css selector", "value": css })).await;
        element[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}")).to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command("POST", &format!("/element/{element}/clear"), json!({})).await;
        self.command("POST", &format!("/element/{element}/value"), json!({ "text": text })).await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command("POST", &format!("/element/{element}/click"), json!({})).await;
    }

    async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        let path = format!("/session/{}/element/{element}/text", self.session);
        self.call("GET", &path, None).await.as_str().unwrap().to_owned()
    }

    async fn value(&self, css: &str) -> String {
        let element = self.find(css).await;
        let path = format!("/session/{}/element/{element}/property/value", self.session);
        self.call("GET", &path, None).await.as_str().unwrap().to_owned()
    }

    async fn title(&self) -> String {
        self.call("GET", &format!("/session/{}/title", self.session), None).await.as_str().unwrap().to_owned()
    }

    /// Changes a form field behind the page's back, as a forged form would carry it.
    async fn set_hidden(&self, name: &str, value: &str) {
        let script = "document.querySelector('input[name=\"' + arguments[0] + '\"]').value = arguments[1];";
        self.command("POST", "/execute/sync", json!({ "script": script, "args": [name, value] })).await;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // ending the session closes chromium (also when the test failed); a raw blocking
        // request, as Drop cannot await
        if !self.session.is_empty() {
            use std::io::{Read as _, Write as _};
            let address = self.base.trim_start_matches("http://").to_owned();
            if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let request = format!(
                    "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n",
                    self.session
                );
                if stream.write_all(request.as_bytes()).is_ok() {
                    let _ = stream.read_to_end(&mut Vec::new());
                }
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn register_app(app: &TestApp) -> (String, String) {
    let body: Value = app
        .http
        .post(app.url("/api/v1/apps"))
        .json(&json!({ "client_name": "Browser test app", "redirect_uris": OOB, "scopes": "read write follow" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (body["client_id"].as_str().unwrap().to_owned(), body["client_secret"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn signs_in_through_the_authorize_page_in_chromium() {
    let app = TestApp::spawn().await;
    app.sign_up("alice").await;
    let (client_id, client_secret) = register_app(&app).await;
    let driver = Driver::start().await;
    let mut authorize = reqwest::Url::parse(&app.url("/oauth/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", OOB)
        .append_pair("scope", "read write")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    driver.open(authorize.as_str()).await;
    assert_eq!(driver.title().await, "Sign in");

    // a wrong password: the form again, saying so
    driver.type_into("#email", "alice@example.org").await;
    driver.type_into("#password", "not her password").await;
    driver.click("#sign_in").await;
    assert!(driver.text("#error").await.contains("Invalid email or password"));

    driver.type_into("#password", "correct horse battery").await;
    driver.click("#sign_in").await;
    assert_eq!(driver.text("#app").await, "Browser test app");
    let scopes = driver.text("#scopes").await;
    assert!(scopes.contains("read") && scopes.contains("write"), "{scopes}");

    // a tampered CSRF token is refused, and no code is issued
    driver.set_hidden("csrf_token", "forged-forged-forged-forged-forged-forged-fo").await;
    driver.click("#authorize").await;
    assert!(driver.text("#error").await.contains("expired"), "the forged form was not refused");
    let codes: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_access_grants")
        .fetch_one(app.deps.store.pool())
        .await
        .unwrap();
    assert_eq!(codes, 0);

    // still signed in: the authorize page comes straight back
    driver.open(authorize.as_str()).await;
    driver.click("#authorize").await;
    let code = driver.value("#code").await;
    assert!(code.len() >= 43, "{code}");

    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.as_str()),
            ("redirect_uri", OOB),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token: Value = response.json().await.unwrap();
    assert_eq!(token["scope"], "read write");
    let me =
        app.get_json(token["access_token"].as_str().unwrap(), "/api/v1/accounts/verify_credentials").await;
    assert_eq!(me["username"], "alice");
}

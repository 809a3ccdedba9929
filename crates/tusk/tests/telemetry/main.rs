//! Traces, logs and the metrics exposition of real processes against the real servers. Its own test
//! binary: it installs the process-wide subscriber, with spans captured in memory and logs in a
//! buffer, exactly as `tusk` installs it with OTLP and stdout.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// the helpers are shared with the `api` tests, which use more of them
#![allow(dead_code)]

#[path = "../api/helpers.rs"]
mod helpers;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use helpers::{TestApp, eventually};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use rand::Rng as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tusk_telemetry::{LogFormat, SpanSink};

/// What the subscriber wrote: spans, and log lines.
struct Captured {
    spans: InMemorySpanExporter,
    logs: Arc<Mutex<Vec<u8>>>,
}

#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let spans = InMemorySpanExporter::default();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = LogBuffer(logs.clone());
        tusk_telemetry::init_with(
            LogFormat::Json,
            "tusk-test",
            SpanSink::Exporter(spans.clone()),
            move || writer.clone(),
        )
        .expect("the first subscriber of this test binary");
        Captured { spans, logs }
    })
}

/// A fresh W3C trace context, as a client or a proxy in front of Tusk would send it.
fn traceparent() -> (String, String, String) {
    let trace_id = format!("{:032x}", rand::rng().random::<u128>());
    let parent_id = format!("{:016x}", rand::rng().random::<u64>() | 1);
    (format!("00-{trace_id}-{parent_id}-01"), trace_id, parent_id)
}

fn spans_of(trace_id: &str) -> Vec<SpanData> {
    captured()
        .spans
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|span| span.span_context.trace_id().to_string() == trace_id)
        .collect()
}

/// The names of a span's ancestors in `spans`, nearest first.
fn ancestry(span: &SpanData, spans: &[SpanData]) -> Vec<String> {
    let by_id: HashMap<String, &SpanData> =
        spans.iter().map(|s| (s.span_context.span_id().to_string(), s)).collect();
    let mut names = Vec::new();
    let mut parent = span.parent_span_id.to_string();
    while let Some(up) = by_id.get(&parent) {
        names.push(up.name.to_string());
        parent = up.parent_span_id.to_string();
    }
    names
}

#[tokio::test]
async fn one_trace_runs_from_the_post_through_the_plan_to_every_batch_job() {
    captured();
    let app = TestApp::spawn_with(|worker| worker.fanout_batch = 2).await;
    let bob = app.sign_up("bob").await;
    app.seed_followers(&bob.id, 5).await; // pages of 2, 2 and 1: three batch jobs

    let (header, trace_id, client_span) = traceparent();
    let response = app
        .http
        .post(app.url("/api/v1/statuses"))
        .bearer_auth(&bob.token)
        .header("traceparent", header)
        .json(&json!({ "status": "traced" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.wait_for_jobs("deliver_batch", 3).await;
    eventually("the spans of three batch jobs", || async {
        spans_of(&trace_id).iter().filter(|s| s.name == "job deliver_batch").count() == 3
    })
    .await;

    let spans = spans_of(&trace_id);
    let named = |name: &str| spans.iter().filter(|s| s.name == name).collect::<Vec<_>>();
    let request = named("POST /api/v1/statuses");
    assert_eq!(request.len(), 1, "one server span for the request");
    assert_eq!(
        request[0].parent_span_id.to_string(),
        client_span,
        "the request continues the client's trace"
    );
    assert!(!named("pg create_status").is_empty(), "PostgreSQL calls are spans of the trace");
    assert!(!named("redis pipeline").is_empty(), "Redis calls are spans of the trace");

    let plan = named("job plan_fanout");
    assert_eq!(plan.len(), 1);
    let prefix = &app.conn.queue_prefix;
    assert_eq!(
        ancestry(plan[0], &spans),
        [
            format!("consume {prefix}.fanout"),
            format!("publish {prefix}.events"),
            "POST /api/v1/statuses".into()
        ],
        "the plan job continues the request's trace through the events exchange"
    );
    let deliver_queue = format!("{prefix}.deliver");
    for batch in named("job deliver_batch") {
        let up = ancestry(batch, &spans);
        assert_eq!(
            up[..3],
            [
                format!("consume {deliver_queue}"),
                format!("publish {deliver_queue}"),
                "job plan_fanout".to_owned()
            ],
            "each batch job is a child of the plan job, across the deliver queue"
        );
        assert_eq!(up.last().unwrap(), "POST /api/v1/statuses");
    }
}

#[tokio::test]
async fn log_lines_carry_the_trace_id_and_no_secrets() {
    captured();
    let app = TestApp::spawn().await;
    let app_token = app.app_token().await;
    let (header, trace_id, _) = traceparent();
    let secret_password = format!("pw-{:x}", rand::rng().random::<u64>());
    let secret_email = format!("e{:x}@secret.example", rand::rng().random::<u32>());
    let response = app
        .http
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&app_token)
        .header("traceparent", header)
        .json(&json!({
            "username": "carol",
            "email": secret_email,
            "password": secret_password,
            "agreement": true,
            "locale": "en",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    // the token in a query string, as streaming clients send it, and in a failed sign-in
    let stream = app.url(&format!("/api/v1/streaming/public?access_token={token}"));
    drop(app.http.get(stream).send().await.unwrap());
    let (client_id, client_secret) = app.register_app().await;
    let sign_in = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", &client_id),
            ("client_secret", &client_secret),
            ("username", &secret_email),
            ("password", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), StatusCode::BAD_REQUEST);

    let logs = String::from_utf8(captured().logs.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> =
        logs.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect();
    let created = lines
        .iter()
        .find(|line| line["message"] == "account created" && line["trace_id"] == trace_id.as_str())
        .expect("the sign-up's log line, with the trace id the client sent");
    assert!(created["account_id"].is_string());
    for secret in [&secret_password, &secret_email, &token, &client_secret] {
        assert!(!logs.contains(secret.as_str()), "a secret in the logs: {secret}");
    }
}

#[tokio::test]
async fn the_metrics_exposition_passes_promtool() {
    captured();
    let app = TestApp::spawn().await;
    let (_alice, bob) = app.alice_follows_bob().await;
    app.post_status(&bob, "counted").await;
    app.wait_for_jobs("plan_fanout", 1).await;
    eventually("dependencies sampled", || async {
        app.metrics(&app.worker_admin).await.contains("tusk_dependency_up{dependency=\"rabbitmq\"} 1")
    })
    .await;
    for admin in [&app.admin, &app.worker_admin] {
        let text = app.metrics(admin).await;
        assert!(text.contains("tusk_build_info{"), "{admin} names its role");
        let mut promtool = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool (deploy/local/test.sh installs it)");
        promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let output = promtool.wait_with_output().unwrap();
        let said =
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success() && said.trim().is_empty(), "promtool on {admin}/metrics: {said}");
    }
}

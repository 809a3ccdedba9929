//! The admin port: health, readiness and metrics by route pattern.

use reqwest::StatusCode;

use crate::helpers::{TestApp, metric_value};

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    for base in [&app.admin, &app.worker_admin] {
        assert_eq!(app.get(format!("{base}/healthz")).await.status(), StatusCode::OK);
        assert_eq!(app.get(format!("{base}/readyz")).await.status(), StatusCode::OK);
    }
    for path in ["/api/v1/accounts/1", "/api/v1/accounts/2", "/api/v1/instance", "/nowhere"] {
        app.get(app.url(path)).await;
    }
    let metrics = app.metrics(&app.admin).await;
    assert_eq!(
        metric_value(
            &metrics,
            "tusk_http_requests_total{method=\"GET\",route=\"/api/v1/accounts/{id}\",status=\"404\"}"
        ),
        2,
        "requests are counted by route pattern:\n{metrics}"
    );
    assert!(!metrics.contains("route=\"/api/v1/accounts/1\""), "never by raw path");
    assert_eq!(
        metric_value(
            &metrics,
            "tusk_http_requests_total{method=\"GET\",route=\"/api/v1/instance\",status=\"200\"}"
        ),
        1
    );
    assert!(
        metrics
            .contains("tusk_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/instance\"")
    );
    assert!(metrics.contains("route=\"unmatched\""));
    assert!(metrics.contains("process_resident_memory_bytes"));
    let worker = app.metrics(&app.worker_admin).await;
    assert!(
        worker.contains(&format!(
            "tusk_queue_messages_ready{{queue=\"{}\"}}",
            app.conn.topology().fanout_queue
        ))
    );
    assert!(worker.contains("tusk_outbox_pending"));
}

#[tokio::test]
async fn instance_endpoints_describe_the_server() {
    let app = TestApp::spawn().await;
    let v1: serde_json::Value = app.get(app.url("/api/v1/instance")).await.json().await.unwrap();
    assert_eq!(v1["configuration"]["statuses"]["max_characters"], 500);
    assert_eq!(v1["registrations"], true);
    let v2: serde_json::Value = app.get(app.url("/api/v2/instance")).await.json().await.unwrap();
    assert_eq!(v2["registrations"]["enabled"], true);
    assert!(v2["domain"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(v2["version"].as_str().unwrap().starts_with("4."));
    // apps open their streams there (the official iOS app cannot decode an instance without it)
    let streaming = format!("ws://{}", v2["domain"].as_str().unwrap());
    assert_eq!(v1["urls"]["streaming_api"], streaming.as_str());
    assert_eq!(v2["configuration"]["urls"]["streaming"], streaming.as_str());
}

/// NodeInfo as megalodon's `detector()` reads it: the discovery document's 2.0 (or 2.1) link,
/// then a document whose software is Tusk with Mastodon upstream.
#[tokio::test]
async fn nodeinfo_names_tusk_with_mastodon_upstream() {
    let app = TestApp::spawn().await;
    app.sign_up("alice").await;
    let links: serde_json::Value = app.get(app.url("/.well-known/nodeinfo")).await.json().await.unwrap();
    let rels: Vec<&str> =
        links["links"].as_array().unwrap().iter().map(|l| l["rel"].as_str().unwrap()).collect();
    assert_eq!(
        rels,
        [
            "http://nodeinfo.diaspora.software/ns/schema/2.0",
            "http://nodeinfo.diaspora.software/ns/schema/2.1"
        ]
    );
    for (n, version) in ["2.0", "2.1"].into_iter().enumerate() {
        let href = links["links"][n]["href"].as_str().unwrap();
        assert_eq!(href, app.url(&format!("/nodeinfo/{version}")));
        let response = app.get(href).await;
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("application/json; profile="), "{content_type}");
        let document: serde_json::Value = response.json().await.unwrap();
        assert_eq!(document["version"], version);
        assert_eq!(document["software"]["name"], "tusk");
        assert_eq!(document["metadata"]["upstream"]["name"], "mastodon");
        assert_eq!(document["protocols"], serde_json::json!(["activitypub"]));
        assert_eq!(document["usage"]["users"]["total"], 1);
        assert_eq!(document["openRegistrations"], true);
    }
    assert_eq!(app.get(app.url("/nodeinfo/3.0")).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_production_topology_declares_quorum_queues() {
    let app = TestApp::spawn_with_quorum_queues().await;
    let connection = tusk_queue::connect(&app.conn.amqp_url, "test").await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut classic = lapin::types::FieldTable::default();
    classic.insert("x-queue-type".into(), lapin::types::AMQPValue::LongString("classic".into()));
    let options = lapin::options::QueueDeclareOptions { durable: true, ..Default::default() };
    let queue = app.conn.topology().fanout_queue;
    // RabbitMQ refuses to redeclare a queue with another type: the existing one is a quorum queue
    let redeclared = channel.queue_declare(queue.as_str().into(), options, classic).await;
    assert!(redeclared.is_err(), "{queue} is not a quorum queue");
}

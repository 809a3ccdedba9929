//! Streaming over SSE and WebSocket, fed through Redis pub/sub by the workers.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::StatusCode;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Listening, TestApp, expect_error};

/// Reads an SSE body until an event named `event` arrives; returns its data.
pub async fn next_sse_event(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    event: &str,
) -> String {
    let mut buffer = String::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let name = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("event: ").or_else(|| l.strip_prefix("event:")));
                let data: Vec<&str> = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
                    .collect();
                if name.map(str::trim) == Some(event) {
                    return data.join("\n");
                }
            }
        }
        panic!("stream ended before a {event} event");
    };
    tokio::time::timeout(Duration::from_secs(15), read).await.expect("no event within 15 s")
}

#[tokio::test]
async fn the_user_stream_over_sse_gets_updates_and_deletes() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    let health = app.get(app.url("/api/v1/streaming/health")).await;
    assert_eq!(health.text().await.unwrap(), "OK");
    expect_error(app.get(app.url("/api/v1/streaming/user")).await, StatusCode::UNAUTHORIZED).await;

    let response = app.get_as(app.url("/api/v1/streaming/user"), &alice.token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut body = response.bytes_stream();
    app.wait_until_listening(Listening::User(&alice)).await;
    let status = app.post_status(&bob, "live!").await["id"].as_str().unwrap().to_owned();
    let update: Value = serde_json::from_str(&next_sse_event(&mut body, "update").await).unwrap();
    assert_eq!(update["id"], status.as_str());
    assert_eq!(update["account"]["username"], "bob");
    assert_eq!(update["content"], "<p>live!</p>");

    let url = app.url(&format!("/api/v1/statuses/{status}"));
    assert_eq!(app.http.delete(&url).bearer_auth(&bob.token).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(next_sse_event(&mut body, "delete").await, status);
}

#[tokio::test]
async fn the_public_stream_over_websocket_with_a_subscribe_message() {
    let app = TestApp::spawn().await;
    let bob = app.sign_up("bob").await;
    let ws_url =
        format!("{}/api/v1/streaming?access_token={}", app.base.replace("http://", "ws://"), bob.token);
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    socket.send(Message::text(r#"{"type": "subscribe", "stream": "public"}"#)).await.unwrap();
    app.wait_until_listening(Listening::Timeline("public")).await;
    let status = app.post_status(&bob, "for the public timeline").await["id"].as_str().unwrap().to_owned();
    let frame = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Some(Ok(Message::Text(text))) = socket.next().await {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["event"] == "update" {
                    return frame;
                }
            }
        }
    })
    .await
    .expect("no update within 15 s");
    assert_eq!(frame["stream"], serde_json::json!(["public"]));
    let payload: Value = serde_json::from_str(frame["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["id"], status.as_str());

    // an unknown stream is refused before the upgrade
    let bad = app.get(app.url("/api/v1/streaming?stream=everything")).await;
    expect_error(bad, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn streaming_connections_are_bounded_and_counted() {
    let app = TestApp::spawn().await; // 4 streams per replica in tests
    let mut open = Vec::new();
    for _ in 0..4 {
        let response = app.get(app.url("/api/v1/streaming/public")).await;
        assert_eq!(response.status(), StatusCode::OK);
        open.push(response);
    }
    let metrics = app.metrics(&app.admin).await;
    assert!(metrics.contains("tusk_streaming_connections 4"), "{metrics}");
    expect_error(app.get(app.url("/api/v1/streaming/public")).await, StatusCode::SERVICE_UNAVAILABLE).await;
    drop(open);
}

#[tokio::test]
async fn fan_out_announces_only_to_followers_with_an_open_stream() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    let carol = app.sign_up("carol").await;
    app.follow(&carol, &bob).await;
    app.wait_for_jobs("merge_follow", 2).await;
    // listen on both followers' channels directly, without marking anyone as listening
    let keys = app.deps.cache.keys();
    let mut raw = redis::Client::open(app.conn.redis_url.as_str()).unwrap().get_async_pubsub().await.unwrap();
    raw.subscribe(keys.timeline_channel(&alice.id)).await.unwrap();
    raw.subscribe(keys.timeline_channel(&carol.id)).await.unwrap();

    let mut body = app.get_as(app.url("/api/v1/streaming/user"), &alice.token).await.bytes_stream();
    app.wait_until_listening(Listening::User(&alice)).await;
    let mut redis = redis::Client::open(app.conn.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let listeners: Vec<String> = redis::cmd("ZRANGE")
        .arg(keys.stream_listeners())
        .arg(0)
        .arg(-1)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(listeners, vec![alice.id.clone()], "only alice holds a stream");

    let status = app.post_status(&bob, "who hears this?").await["id"].as_str().unwrap().to_owned();
    let update: Value = serde_json::from_str(&next_sse_event(&mut body, "update").await).unwrap();
    assert_eq!(update["id"], status.as_str());
    app.wait_for_jobs("plan_fanout", 1).await;
    assert!(app.in_redis_feed(&carol, &status).await, "carol's feed has it all the same");
    // the fan-out is done: whatever it announced has been published by now
    let mut messages = raw.on_message();
    let mut channels = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(500), messages.next()).await {
        channels.push(message.get_channel_name().to_owned());
    }
    assert_eq!(channels, vec![keys.timeline_channel(&alice.id)], "carol, not streaming, got no PUBLISH");
}

//! Overload protection against the real api: a flood of sign-ups on a replica with a small
//! sign-up limit turns into fast 503s for sign-ups, while home-timeline reads keep succeeding.
//! Nothing here is timed: the test counts answers, never measures them.

use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt as _;
use reqwest::StatusCode;
use serde_json::Value;
use tusk_api::HttpLimits;

use crate::helpers::{Replica, TestApp, eventually, metric_value, sign_up_form};

/// Sign-ups in the flood, and how many are in flight at any moment (each answer sends another).
const FLOOD: usize = 200;
const IN_FLIGHT: usize = 50;

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_up_flood_is_shed_while_home_reads_keep_succeeding() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    let status = app.post_status(&bob, "before the flood").await;
    let status_id = status["id"].as_str().unwrap().to_owned();
    eventually("the status in alice's home", || async {
        app.home_ids(&alice, "").await.contains(&status_id)
    })
    .await;
    let replica = Replica::start(&app, &app.conn, |settings| {
        settings.password_hashers = 1;
        settings.http_limits = HttpLimits { signup: 2, ..HttpLimits::default() };
    })
    .await;
    let app_token = app.app_token().await;

    let flood_done = AtomicBool::new(false);
    let flood = async {
        let sign_ups = futures_util::stream::iter(0..FLOOD).map(|n| {
            app.http
                .post(replica.url("/api/v1/accounts"))
                .bearer_auth(&app_token)
                .json(&sign_up_form(&format!("flood{n}")))
                .send()
        });
        let answers: Vec<_> = sign_ups.buffer_unordered(IN_FLIGHT).collect().await;
        flood_done.store(true, Ordering::SeqCst);
        answers
    };
    let home = replica.url("/api/v1/timelines/home");
    let reads = async {
        let mut statuses = Vec::new();
        // at least one read, and reads for as long as the flood lasts
        loop {
            let response = app.http.get(&home).bearer_auth(&alice.token).send().await.unwrap();
            statuses.push(response.status());
            if flood_done.load(Ordering::SeqCst) {
                return statuses;
            }
        }
    };
    let (answers, reads) = tokio::join!(flood, reads);

    assert!(reads.iter().all(|s| *s == StatusCode::OK), "home reads failed during the flood: {reads:?}");
    let (mut created, mut shed) = (0, 0);
    for answer in answers {
        // an error here is a hang past the client's timeout, or a dropped connection
        let response = answer.expect("every sign-up is answered");
        match response.status() {
            StatusCode::OK => created += 1,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                assert!(response.headers().contains_key("retry-after"), "no Retry-After");
                let body: Value = response.json().await.unwrap();
                assert!(body["error"].is_string(), "{body}");
                shed += 1;
            }
            other => panic!("a sign-up got {other}: {}", response.text().await.unwrap_or_default()),
        }
    }
    assert!(created >= 1, "no sign-up went through");
    assert!(shed >= 1, "none of {FLOOD} sign-ups, {IN_FLIGHT} at a time, was shed with a limit of 2");
    assert_eq!(created + shed, FLOOD);

    // the shed sign-ups are counted by class; nothing else was shed
    let metrics = app.metrics(&replica.admin).await;
    let shed_signups = metric_value(&metrics, "tusk_http_shed_total{class=\"signup\"}");
    assert!(shed_signups >= 1 && shed_signups <= shed as u64, "{shed_signups} counted, {shed} seen");
    assert_eq!(metric_value(&metrics, "tusk_http_shed_total{class=\"read\"}"), 0);
    assert!(metrics.contains("tusk_http_timeouts_total{class=\"read\"} 0"), "{metrics}");
    // and the replica still serves what was read all along
    let page: Value =
        app.http.get(&home).bearer_auth(&alice.token).send().await.unwrap().json().await.unwrap();
    assert_eq!(page[0]["id"], status_id.as_str());
}

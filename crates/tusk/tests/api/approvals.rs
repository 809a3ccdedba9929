//! `tusk accounts approve`: the operator's way to let in accounts that signed up while
//! registrations needed approval (`TUSK_REGISTRATIONS=approved`). Runs the real binary.

use std::process::Output;

use reqwest::StatusCode;

use crate::helpers::{TestApp, expect_error};

/// Runs `tusk accounts approve ARGS` on the test's database (off the runtime: it blocks).
async fn tusk_approve(app: &TestApp, args: &[&str]) -> Output {
    let database_url = app.conn.database_url.clone();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tusk"))
            .args(["accounts", "approve"])
            .args(&args)
            .env("DATABASE_URL", database_url)
            .output()
            .expect("run tusk accounts approve")
    })
    .await
    .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn the_cli_lists_and_approves_pending_accounts() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    // the state a sign-up under TUSK_REGISTRATIONS=approved leaves (profiles.rs checks that one)
    app.hold_for_approval(&[&alice, &bob]).await;
    let verify = |token: String| {
        let app = &app;
        async move { app.get_as(app.url("/api/v1/accounts/verify_credentials"), token).await }
    };
    let body = expect_error(verify(alice.token.clone()).await, StatusCode::FORBIDDEN).await;
    assert_eq!(body["error"], "Your login is currently pending approval");

    let listed = tusk_approve(&app, &["--list"]).await;
    assert!(listed.status.success(), "{listed:?}");
    let lines: Vec<Vec<String>> =
        stdout(&listed).lines().map(|l| l.split('\t').map(str::to_owned).collect()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!((lines[0][0].as_str(), lines[0][1].as_str()), ("alice", "alice@example.org"));
    assert_eq!(lines[1][0], "bob");
    assert!(chrono::DateTime::parse_from_rfc3339(&lines[0][2]).is_ok(), "{lines:?}");

    // by username, case-insensitively, with or without the @
    let approved = tusk_approve(&app, &["@Alice"]).await;
    assert!(approved.status.success(), "{approved:?}");
    assert_eq!(stdout(&approved), "approved @Alice\n");
    assert_eq!(verify(alice.token.clone()).await.status(), StatusCode::OK);
    expect_error(verify(bob.token.clone()).await, StatusCode::FORBIDDEN).await;
    assert_eq!(stdout(&tusk_approve(&app, &["--list"]).await).lines().count(), 1);

    let again = tusk_approve(&app, &["alice"]).await;
    assert!(again.status.success());
    assert_eq!(stdout(&again), "alice was already approved\n");
    let unknown = tusk_approve(&app, &["nobody"]).await;
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no local account named \"nobody\""),
        "{unknown:?}"
    );
    // a username or --list is needed, not both
    assert_eq!(tusk_approve(&app, &[]).await.status.code(), Some(2));
    assert_eq!(tusk_approve(&app, &["bob", "--list"]).await.status.code(), Some(2));
    expect_error(verify(bob.token.clone()).await, StatusCode::FORBIDDEN).await;
    assert_eq!(verify(carol.token.clone()).await.status(), StatusCode::OK);
}

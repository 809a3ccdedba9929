//! A real client: Mastodon.py, a Mastodon client library this project did not write, drives the
//! whole flow (deploy/clients/mastodon_py_flow.py) against a fresh Tusk.

use std::path::PathBuf;
use std::time::Duration;

use crate::helpers::TestApp;

/// The Python of the venv deploy/clients/install.sh fills (`TUSK_TEST_CLIENTS_PYTHON`).
fn clients_python() -> PathBuf {
    if let Ok(python) = std::env::var("TUSK_TEST_CLIENTS_PYTHON") {
        return PathBuf::from(python);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
    PathBuf::from(home).join(".cache/tusk/tools/clients-venv/bin/python")
}

#[tokio::test(flavor = "multi_thread")]
async fn mastodon_py_drives_the_whole_flow() {
    let python = clients_python();
    assert!(
        python.exists(),
        "{} is missing: run deploy/clients/install.sh (deploy/local/test.sh does) to install Mastodon.py, \
         or point TUSK_TEST_CLIENTS_PYTHON at a Python that has it",
        python.display()
    );
    let app = TestApp::spawn().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/clients/mastodon_py_flow.py");
    let base = app.base.clone();
    // std's Command on a blocking thread: the api and worker keep running on the runtime
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python).arg(&script).arg(&base).env("PYTHONUNBUFFERED", "1").output()
    });
    let output = tokio::time::timeout(Duration::from_mins(2), run)
        .await
        .expect("the Mastodon.py flow took over two minutes")
        .expect("join")
        .expect("run the Mastodon.py flow");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the Mastodon.py flow failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("every step passed"), "{stdout}\n{stderr}");
}

//! Real clients this project did not write drive whole flows against a fresh Tusk: Mastodon.py
//! (deploy/clients/mastodon_py_flow.py), megalodon (deploy/clients/megalodon_flow.mjs) and the
//! toot command line (deploy/clients/toot_flow.py). deploy/clients/install.sh installs them.

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

/// Where deploy/clients/install.sh put megalodon (in `node_modules` there; `TUSK_TEST_CLIENTS_NODE`).
fn clients_node() -> PathBuf {
    if let Ok(dir) = std::env::var("TUSK_TEST_CLIENTS_NODE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
    PathBuf::from(home).join(".cache/tusk/tools/clients-node")
}

/// The Python of the venv deploy/clients/install.sh puts toot in (`TUSK_TEST_TOOT_PYTHON`); the
/// flow runs the `toot` beside it.
fn toot_python() -> PathBuf {
    if let Ok(python) = std::env::var("TUSK_TEST_TOOT_PYTHON") {
        return PathBuf::from(python);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
    PathBuf::from(home).join(".cache/tusk/tools/toot-venv/bin/python")
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

#[tokio::test(flavor = "multi_thread")]
async fn megalodon_drives_the_whole_flow() {
    let modules = clients_node();
    assert!(
        modules.join("node_modules/megalodon/package.json").exists(),
        "megalodon is missing from {}: run deploy/clients/install.sh (deploy/local/test.sh does), \
         or point TUSK_TEST_CLIENTS_NODE at a directory whose node_modules has it",
        modules.display()
    );
    let app = TestApp::spawn().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/clients/megalodon_flow.mjs");
    let base = app.base.clone();
    // std's Command on a blocking thread: the api and worker keep running on the runtime
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node").arg(&script).arg(&base).env("TUSK_CLIENTS_NODE", &modules).output()
    });
    let output = tokio::time::timeout(Duration::from_mins(2), run)
        .await
        .expect("the megalodon flow took over two minutes")
        .expect("join")
        .expect("run the megalodon flow (is node on the PATH?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the megalodon flow failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("every step passed"), "{stdout}\n{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn toot_drives_the_whole_flow() {
    let python = toot_python();
    assert!(
        python.exists(),
        "{} is missing: run deploy/clients/install.sh (deploy/local/test.sh does) to install toot, \
         or point TUSK_TEST_TOOT_PYTHON at the Python of a venv that has it",
        python.display()
    );
    let app = TestApp::spawn().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/clients/toot_flow.py");
    let base = app.base.clone();
    // std's Command on a blocking thread: the api and worker keep running on the runtime
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python).arg(&script).arg(&base).env("PYTHONUNBUFFERED", "1").output()
    });
    let output = tokio::time::timeout(Duration::from_mins(3), run)
        .await
        .expect("the toot flow took over three minutes")
        .expect("join")
        .expect("run the toot flow");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the toot flow failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("every step passed"), "{stdout}\n{stderr}");
}

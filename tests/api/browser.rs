//! Headless Chromium and real client libraries against the real app. Each test boots the
//! app and runs a script of `tests/browser/` (playwright-core driving Debian's
//! `/usr/bin/chromium`, or the graphql-sse npm client), which exits non-zero on a failed
//! check. Screenshots go to `test-artifacts/`. Without node or chromium the tests skip
//! (fail under CI=true, where .ci/run installs them).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helpers::{ADMIN_KEY, Backend, spawn_app};
use crate::tools::missing;

const CHROMIUM: &str = "/usr/bin/chromium";

/// One browser at a time: two Chromiums on two cores would make the timing checks noisy.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Node, the scripts' packages (installed from the committed lockfile) and, when asked,
/// Chromium; None (skipped) when something is missing.
fn ready(with_chromium: bool) -> Option<()> {
    if std::process::Command::new("node").arg("--version").output().is_err() {
        missing("node", "apt-get install -y nodejs npm");
        return None;
    }
    if with_chromium && !Path::new(CHROMIUM).exists() {
        missing("chromium", "apt-get install -y chromium");
        return None;
    }
    if !scripts().join("node_modules/playwright-core").exists() || !scripts().join("node_modules/graphql-sse").exists()
    {
        let installed = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(scripts())
            .status();
        assert!(installed.is_ok_and(|s| s.success()), "npm ci in tests/browser failed");
    }
    Some(())
}

/// Runs `script` against a fresh app; panics with its output when a check fails.
async fn run(script: &str, with_chromium: bool) {
    let _one = ONE_AT_A_TIME.lock().await;
    if ready(with_chromium).is_none() {
        return;
    }
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-artifacts");
    let child = tokio::process::Command::new("node")
        .arg(script)
        .current_dir(scripts())
        .env("BASE_URL", app.url(""))
        .env("ADMIN_KEY", ADMIN_KEY)
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", CHROMIUM)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), child)
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within 180 s"))
        .expect("node runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{script} failed ({}):\n{stdout}\n{stderr}", output.status);
    // Shown with --nocapture: what the script checked, and where its screenshots are.
    println!("{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_loads_offline_runs_a_query_and_shows_a_subscription_event() {
    run("graphiql.mjs", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_changes_within_a_second_and_resumes_after_a_network_drop_exactly_once() {
    run("dashboard.mjs", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphql_sse_npm_client_receives_events() {
    run("sse_client.mjs", false).await;
}

//! Headless Chromium and real client libraries against the real app. Each test boots the
//! app and runs a script of `tests/browser/` (playwright-core driving Debian's
//! `/usr/bin/chromium`, or the graphql-sse npm client), which exits non-zero on a failed
//! check. Screenshots go to `test-artifacts/`. Without node or chromium the tests skip
//! (fail under CI=true, where .ci/run installs them).

use std::path::Path;

use crate::helpers::{Backend, spawn_app, spawn_app_with};
use crate::tools::{missing, node_package, node_ready, run_node};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// One browser at a time: two Chromiums on two cores would make the timing checks noisy.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Node, the scripts' packages and, when asked, Chromium; None (skipped) when missing.
pub fn ready(with_chromium: bool) -> Option<()> {
    node_ready(&node_package("browser"), &["playwright-core", "graphql-sse"])?;
    if with_chromium && !Path::new(CHROMIUM).exists() {
        missing("chromium", "apt-get install -y chromium");
        return None;
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
    run_node(&node_package("browser"), script, &app, &[("CHROMIUM", CHROMIUM.to_string())]).await;
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

/// A port free at the moment (the script's page servers bind it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_an_allowed_origin_calls_the_api_and_one_on_another_origin_is_refused() {
    let _one = ONE_AT_A_TIME.lock().await;
    if ready(true).is_none() {
        return;
    }
    let (allowed, refused) = (free_port(), free_port());
    let origin = format!("http://localhost:{allowed}");
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| c.clients.cors_allowed_origins = vec![origin]).await else {
        return;
    };
    let env = [
        ("CHROMIUM", CHROMIUM.to_string()),
        ("ALLOWED_PORT", allowed.to_string()),
        ("REFUSED_PORT", refused.to_string()),
    ];
    run_node(&node_package("browser"), "cors.mjs", &app, &env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_console_clicks_through_every_panel() {
    let _one = ONE_AT_A_TIME.lock().await;
    if ready(true).is_none() {
        return;
    }
    let allow = |c: &mut clinicstream::Config| c.webhooks.allow_private = clinicstream::webhooks::Allowlist::any();
    let Some(app) = spawn_app_with(Backend::Sqlite, allow).await else { return };
    run_node(&node_package("browser"), "console.mjs", &app, &[("CHROMIUM", CHROMIUM.to_string())]).await;
}

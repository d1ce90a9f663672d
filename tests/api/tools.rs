//! External programs the browser, client-library and SSE tests drive (curl, node,
//! chromium): a missing one is a skip on a bare machine and a failure under CI, like a
//! missing service.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helpers::{ADMIN_KEY, TestApp, in_ci};

pub fn missing(tool: &str, install: &str) {
    if in_ci() {
        panic!("{tool} is required under CI=true but is missing; .ci/run installs it ({install})");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {tool} is not installed; `{install}` to include this test");
}

/// A node package of the test suite (`tests/<name>`).
pub fn node_package(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(name)
}

/// Node and the package's modules (installed from its committed lockfile with `npm ci`
/// when one of `modules` is missing); None (skipped) without node.
pub fn node_ready(package: &Path, modules: &[&str]) -> Option<()> {
    if std::process::Command::new("node").arg("--version").output().is_err() {
        missing("node", "apt-get install -y nodejs npm");
        return None;
    }
    // One install at a time: tests run in parallel, and `npm ci` first deletes the
    // node_modules another test may be running from.
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if modules.iter().any(|m| !package.join("node_modules").join(m).exists()) {
        let installed = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(package)
            .status();
        assert!(installed.is_ok_and(|s| s.success()), "npm ci in {} failed", package.display());
    }
    Some(())
}

/// Runs `script` of `package` against `app` (BASE_URL, ADMIN_KEY and `env` set); panics
/// with its output when a check fails.
pub async fn run_node(package: &Path, script: &str, app: &TestApp, env: &[(&str, String)]) {
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-artifacts");
    let child = tokio::process::Command::new("node")
        .arg(script)
        .current_dir(package)
        .env("BASE_URL", app.url(""))
        .env("ADMIN_KEY", ADMIN_KEY)
        .env("ARTIFACTS", &artifacts)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
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

//! A node package of the suite run as a service: its pinned modules installed once per test
//! run with `npm ci` (from the committed lockfile), a script started with its environment,
//! whose first stdout line is JSON naming where it listens, and its output kept for the
//! failure message. Without node or the npm registry: a skip on a bare machine and a
//! failure under CI (the OpenID Provider of `oidc`, the supergraph of `federation`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::in_ci;
use crate::tools::{missing, node_package};

/// A running node script, killed on drop.
pub struct NodeService {
    output: Arc<Mutex<String>>,
    _child: Child,
}

impl NodeService {
    /// Installs `package` (tests/<package>; once per run), runs `script` there with `env`
    /// and waits up to `within` for its first stdout line, which must be JSON; None when
    /// node or the registry is missing (a skip; under CI a failure, naming `what`). A
    /// failure to start says whether the script exited (with its status and all of its
    /// stderr) or stayed silent.
    pub async fn start(
        package: &str,
        script: &str,
        env: &[(&str, String)],
        what: &str,
        within: Duration,
    ) -> Option<(NodeService, Value)> {
        let dir = node_package(package);
        let (install_dir, what_owned) = (dir.clone(), what.to_string());
        if !tokio::task::spawn_blocking(move || installed(&install_dir, &what_owned)).await.expect("install runs") {
            return None;
        }
        // A script that exits, or stays silent, before its first line is started once
        // more, and the first attempt's reason is printed: its exit status and output, or
        // what the kernel says the silent process was doing. (CI runs have twice failed
        // with "did not start within 120s" and only node's first warning; the second time
        // the process was known to be alive and silent. Why is not known yet.)
        let mut failed = None;
        for attempt in 1..=2 {
            match launch(&dir, script, env, within).await {
                Ok(started) => {
                    if let Some(why) = failed {
                        eprintln!("{what} started on its second attempt; the first: {why}");
                    }
                    return Some(started);
                }
                Err(why) if attempt == 1 => failed = Some(why),
                Err(why) => {
                    let before = failed.map(|first| format!(" (a first attempt: {first})")).unwrap_or_default();
                    panic!("{what} {why}{before}");
                }
            }
        }
        unreachable!("the second attempt returns or panics")
    }

    /// What the script printed so far (stderr, and stdout after the first line).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

async fn launch(
    dir: &Path,
    script: &str,
    env: &[(&str, String)],
    within: Duration,
) -> Result<(NodeService, Value), String> {
    // Why a script gave no first line: it exited (its status and stderr say why), or it
    // stayed silent (its state in /proc says what it was doing).
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let output = Arc::new(Mutex::new(String::new()));
    let stderr = drain(child.stderr.take().expect("stderr"), output.clone());
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = match tokio::time::timeout(within, stdout.next_line()).await {
        Ok(Ok(Some(line))) => line,
        Ok(_) => {
            // Its stdout closed: wait for the exit and the rest of stderr, which says why.
            let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), stderr).await;
            let status = match status {
                Ok(Ok(status)) => status.to_string(),
                _ => "no exit status within 10 s".to_string(),
            };
            return Err(format!("exited before its first line ({status}): {}", output.lock().unwrap()));
        }
        Err(_) => {
            let doing = child.id().map_or_else(|| "gone".to_string(), process_state);
            let said = output.lock().unwrap().clone();
            return Err(format!("did not start within {within:?} ({doing}): {said}"));
        }
    };
    drain(stdout.into_inner(), output.clone());
    let started: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{script} said {line}"));
    Ok((NodeService { output, _child: child }, started))
}

/// What a process is doing, from /proc: its state (R running, S sleeping, D in the
/// kernel), CPU time so far, threads, and the kernel function it waits in.
fn process_state(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command's closing parenthesis: state is the first, utime and
    // stime the 12th and 13th, threads the 18th.
    let fields: Vec<&str> = stat.rsplit_once(") ").map_or(Vec::new(), |(_, rest)| rest.split(' ').collect());
    let field = |i: usize| fields.get(i).copied().unwrap_or("?");
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    format!(
        "pid {pid}: state {}, utime {} and stime {} ticks, {} threads, waiting in {:?}",
        field(0),
        field(11),
        field(12),
        field(17),
        wchan
    )
}

fn drain(stream: impl AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<String>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut output = into.lock().unwrap();
            output.push_str(&line);
            output.push('\n');
        }
    })
}

/// The package's pinned modules, installed with `npm ci` unless node_modules already has
/// those versions; once per package and test run (parallel tests wait for the first one).
pub fn installed(package: &Path, what: &str) -> bool {
    static INSTALLED: Mutex<Option<HashMap<PathBuf, bool>>> = Mutex::new(None);
    let mut state = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    let state = state.get_or_insert_with(HashMap::new);
    if let Some(ok) = state.get(package) {
        return *ok;
    }
    let ok = install(package, what);
    state.insert(package.to_path_buf(), ok);
    ok
}

fn install(package: &Path, what: &str) -> bool {
    if std::process::Command::new("node").arg("--version").output().is_err() {
        missing("node", "apt-get install -y nodejs npm");
        return false;
    }
    if pinned_modules_present(package) {
        return true;
    }
    let npm = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(package)
        .output();
    match npm {
        Ok(out) if out.status.success() && pinned_modules_present(package) => true,
        other => {
            let why = match other {
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            let why = format!("`npm ci` in {} failed (npm or its registry missing?): {why}", package.display());
            if in_ci() {
                panic!("{what} is required under CI=true: {why}");
            }
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED: {what} cannot be installed: {why}");
            false
        }
    }
}

/// Every dependency of package.json is in node_modules at its pinned version.
fn pinned_modules_present(package: &Path) -> bool {
    let read = |path: &Path| -> Option<Value> { serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok() };
    let Some(manifest) = read(&package.join("package.json")) else { return false };
    let Some(dependencies) = manifest["dependencies"].as_object() else { return false };
    dependencies.iter().all(|(name, version)| {
        read(&package.join("node_modules").join(name).join("package.json"))
            .is_some_and(|installed| installed["version"] == *version)
    })
}

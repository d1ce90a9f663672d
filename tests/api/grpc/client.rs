//! The Python client (`tests/support/grpc/client.py`, generated with grpcio-tools from the
//! checked-in .proto) in a virtualenv under `target/`, installed with pip on first use;
//! unavailable (skipped, or failed under CI=true) without python3 or pip.

use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use crate::helpers::unavailable;

const PACKAGES: &[&str] = &["grpcio", "grpcio-tools", "grpcio-reflection", "grpcio-health-checking"];
const IMPORTS: &str = "import grpc, grpc_tools, grpc_reflection, grpc_health";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The python to run the client with; None (after saying why) when it cannot be had.
pub fn python() -> Option<PathBuf> {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match READY.get_or_init(|| crate::venv::install("grpc-venv", PACKAGES, IMPORTS)) {
        Ok(python) => Some(python.clone()),
        Err(why) => {
            unavailable("python3 with grpcio and grpcio-tools", why);
            None
        }
    }
}

/// One run of the client: its output lines, as JSON.
pub struct Client {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

/// How long one line may take (the first includes generating the code).
const LINE_WITHIN: Duration = Duration::from_secs(30);

impl Client {
    fn spawn(python: &PathBuf, args: &[String]) -> Client {
        let script = root().join("tests/support/grpc/client.py");
        let mut child = tokio::process::Command::new(python)
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the python client starts");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Client { child, lines }
    }

    /// `Subscribe` as `key` (empty: no metadata) to `practice`, after `after`, of `types`.
    pub async fn subscribe(
        python: &PathBuf,
        target: SocketAddr,
        key: &str,
        practice: &str,
        after: Option<&str>,
        types: Option<&str>,
    ) -> Client {
        let mut args = vec!["subscribe".to_string(), target.to_string(), key.to_string(), practice.to_string()];
        if let Some(after) = after {
            args.extend(["--after".to_string(), after.to_string()]);
        }
        if let Some(types) = types {
            args.extend(["--types".to_string(), types.to_string()]);
        }
        let mut client = Client::spawn(python, &args);
        assert_eq!(client.line().await, serde_json::json!({ "opened": true }));
        client
    }

    /// A slow reader: `Subscribe` with a `window`-byte HTTP/2 stream window, reading
    /// nothing for `delay` once the stream is open (returns when it has opened).
    pub async fn slow(
        python: &PathBuf,
        target: SocketAddr,
        key: &str,
        practice: &str,
        after: &str,
        (delay, window): (f64, u32),
    ) -> Client {
        let mut args = vec!["subscribe".to_string(), target.to_string(), key.to_string(), practice.to_string()];
        args.extend(["--after".into(), after.into(), "--delay".into(), delay.to_string()]);
        args.extend(["--window".into(), window.to_string()]);
        let mut client = Client::spawn(python, &args);
        assert_eq!(client.line().await, serde_json::json!({ "opened": true }));
        assert_eq!(client.line().await["waiting"], delay);
        client
    }

    /// Reflection's services, the Subscribe method's shape and the health check's answer.
    pub async fn reflect(python: &PathBuf, target: SocketAddr) -> (Value, Value) {
        let mut client = Client::spawn(python, &["reflect".to_string(), target.to_string()]);
        (client.line().await, client.line().await)
    }

    pub async fn line(&mut self) -> Value {
        self.line_within(LINE_WITHIN).await.expect("a line from the python client within the time")
    }

    pub async fn line_within(&mut self, within: Duration) -> Result<Value, tokio::time::error::Elapsed> {
        let line = tokio::time::timeout(within, self.lines.next_line()).await?;
        let line = line.expect("reads").expect("the client printed a line before exiting");
        Ok(serde_json::from_str(&line).expect("the client prints JSON lines"))
    }

    /// The next event (panics on a status instead).
    pub async fn event(&mut self) -> Value {
        let line = self.line().await;
        assert!(line.get("status").is_none(), "expected an event, the stream ended: {line}");
        line
    }

    /// The status the stream ended with: (code name, details).
    pub async fn status(&mut self) -> (String, String) {
        loop {
            let line = self.line().await;
            if let Some(status) = line.get("status") {
                let details = line["details"].as_str().unwrap_or_default().to_string();
                return (status.as_str().unwrap().to_string(), details);
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.child.kill().await;
    }
}

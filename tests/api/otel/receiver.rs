//! The OTLP/HTTP receiver (`tests/support/otel/receiver.py`, over PyPI's
//! `opentelemetry-proto`, pinned) in a virtualenv under `target/`, installed with pip on
//! first use; unavailable (skipped, or failed under CI=true) without python3 or pip. The
//! spans it prints are collected as they arrive.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::helpers::unavailable;

const PACKAGES: &[&str] = &["opentelemetry-proto==1.45.2"];
const IMPORTS: &str = "import opentelemetry.proto.collector.trace.v1.trace_service_pb2";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> Option<PathBuf> {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match READY.get_or_init(|| crate::venv::install("otel-venv", PACKAGES, IMPORTS)) {
        Ok(python) => Some(python.clone()),
        Err(why) => {
            unavailable("python3 with opentelemetry-proto", why);
            None
        }
    }
}

/// A running receiver, killed on drop.
pub struct Receiver {
    pub port: u16,
    spans: Arc<Mutex<Vec<Value>>>,
    _child: Child,
}

impl Receiver {
    /// None when python or the package cannot be had (a skip; under CI a failure).
    pub async fn start() -> Option<Self> {
        let python = tokio::task::spawn_blocking(python).await.expect("install runs")?;
        let mut child = tokio::process::Command::new(python)
            .arg(root().join("tests/support/otel/receiver.py"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the receiver starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        let Ok(Ok(Some(first))) = first else { panic!("the OTLP receiver did not start") };
        let started: Value = serde_json::from_str(&first).expect("the first line is JSON");
        let port = started["port"].as_u64().expect("a port") as u16;
        let spans = Arc::new(Mutex::new(Vec::new()));
        let into = spans.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                into.lock().unwrap().push(serde_json::from_str(&line).expect("a span line is JSON"));
            }
        });
        Some(Self { port, spans, _child: child })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Value> {
        self.spans.lock().unwrap().clone()
    }
}

//! The Kafka bridge against a real Kafka-protocol broker: a `tansu` of the test's own on a
//! free port, its storage in a SQLite file of its own (so it survives a restart), and an
//! independent reader on the far side (Python kafka-python with `read_committed`, each
//! record checked with the CloudEvents SDK's Kafka binding).

mod delivery;
mod takeover;

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::brokers::{free_port, unique};
use super::consumers::{Door, Got};
use crate::helpers::unavailable;

/// Where the tests look for tansu: `TANSU_BIN`, then PATH, then `target/tools/bin/tansu`
/// (where `.ci/run` installs it).
fn tansu_bin() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("TANSU_BIN").map(PathBuf::from),
        Some(PathBuf::from("tansu")),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tools/bin/tansu")),
    ];
    candidates.into_iter().flatten().find(|bin| {
        Command::new(bin).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
    })
}

/// A tansu broker of the test's own, killed when dropped.
pub struct Tansu {
    pub port: u16,
    bin: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
}

impl Tansu {
    /// None (skipped, or failed under CI) without a tansu binary.
    pub async fn start() -> Option<Self> {
        let Some(bin) = tansu_bin() else {
            unavailable(
                "tansu (a Kafka-protocol broker)",
                "set TANSU_BIN or `cargo install tansu@0.6.0 --locked --features libsql --root target/tools`",
            );
            return None;
        };
        let dir = std::env::temp_dir().join(unique("cs-tansu-"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut tansu = Self { port: free_port(), bin, dir, child: None };
        tansu.run().await;
        Some(tansu)
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker on its port and storage, and waits until it answers.
    pub async fn run(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let storage = format!("sqlite://{}", self.dir.join("tansu.db").display());
        let log = std::fs::File::create(self.dir.join("tansu.log")).unwrap();
        let mut child = Command::new(&self.bin)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", &storage])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("tansu starts");
        let port = self.port;
        let listening = async || tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok();
        let up = crate::helpers::eventually(Duration::from_secs(20), listening, |up| *up).await.is_ok();
        if !up || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            let log = std::fs::read_to_string(self.dir.join("tansu.log")).unwrap_or_default();
            panic!("tansu did not start on {port} (it needs the libsql feature for sqlite://): {log}");
        }
        self.child = Some(child);
    }

    /// SIGKILL: the broker vanishes mid-request; its SQLite file stays.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// kafka-python and the CloudEvents SDK, pinned; installed with pip when missing. False
/// (skipped, or failed under CI) when they cannot be.
pub fn reader_ready() -> bool {
    let importable = || {
        Command::new("python3")
            .args(["-c", "import kafka, cloudevents.core.bindings.kafka"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if importable() {
        return true;
    }
    let _ = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(["kafka-python==3.0.12", "cloudevents==2.2.0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if importable() {
        return true;
    }
    unavailable("python3 with kafka-python and cloudevents", "`python3 -m pip install kafka-python==3.0.12 cloudevents==2.2.0` failed");
    false
}

/// A record as the Python reader got it.
pub struct Record {
    pub partition: i64,
    pub key: Option<String>,
    pub got: Got,
}

/// Every record of `topic` as a `read_committed` consumer sees it (at least `at_least` of
/// them, or whatever came within `within`), each a valid CloudEvent per the SDK.
pub async fn read_topic(bootstrap: &str, topic: &str, at_least: usize, within: Duration) -> Vec<Record> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/kafka/read_topic.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .args([bootstrap, topic, &at_least.to_string(), &within.as_secs_f64().to_string()])
        .output()
        .await
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the Kafka reader failed (an invalid CloudEvent fails it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let records: Vec<Value> = serde_json::from_slice(&output.stdout).expect("the reader prints JSON");
    records
        .into_iter()
        .map(|r| {
            let event = r["event"].clone();
            for attribute in ["specversion", "id", "source", "type"] {
                assert_eq!(r["sdk"][attribute], event[attribute], "the SDK reads {attribute} as the JSON says");
            }
            let key = r["key"].as_str().map(String::from);
            Record {
                partition: r["partition"].as_i64().unwrap(),
                got: Got {
                    route: key.clone().unwrap_or_default(),
                    dedup_id: None,
                    content_type: r["content_type"].as_str().map(String::from),
                    delivery_mode: None,
                    event,
                },
                key,
            }
        })
        .collect()
}

/// The records as the shared checks take them (route = the record key).
pub fn gots(records: &[Record]) -> Vec<Got> {
    records.iter().map(|r| r.got.clone()).collect()
}

/// Each practice's records share one partition and are keyed by the practice.
pub fn keyed_by_practice(records: &[Record]) {
    let mut partitions = std::collections::HashMap::new();
    for record in records {
        let practice = record.got.practice();
        assert_eq!(record.key.as_deref(), Some(practice.as_str()), "the record key is the practice id");
        let first = *partitions.entry(practice.clone()).or_insert(record.partition);
        assert_eq!(first, record.partition, "practice {practice} spans partitions");
    }
}

pub const DOOR: Door = Door::Kafka;

//! The brokers the bridge tests talk to: the shared ones on their standard ports (each test
//! with a stream, exchange or prefix of its own), or a `nats-server` / `mosquitto` of the
//! test's own on a free port, for tests that stop and restart it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::unavailable;

pub const SHARED_NATS: &str = "nats://127.0.0.1:4222";
pub const SHARED_AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const SHARED_MQTT: &str = "mqtt://127.0.0.1:1883";

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::now_v7().simple().to_string()[16..])
}

fn reachable(service: &str, port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(_) => true,
        Err(err) => {
            unavailable(service, &format!("127.0.0.1:{port}: {err}"));
            false
        }
    }
}

/// The shared NATS (JetStream), RabbitMQ and Mosquitto, if all three answer.
pub fn shared_brokers() -> bool {
    reachable("NATS", 4222) && reachable("RabbitMQ", 5672) && reachable("Mosquitto", 1883)
}

pub fn shared_nats() -> bool {
    reachable("NATS", 4222)
}

pub fn shared_amqp() -> bool {
    reachable("RabbitMQ", 5672)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn on_path(tool: &str) -> bool {
    let found = Command::new(tool).arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !found {
        unavailable(tool, "not on PATH (apt-get install nats-server mosquitto)");
    }
    found
}

async fn wait_listening(port: u16, what: &str) {
    let listening = async || tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok();
    let up = crate::helpers::eventually(Duration::from_secs(5), listening, |up| *up).await;
    assert!(up.is_ok(), "{what} on port {port} did not come up");
}

/// A broker process of the test's own, killed when dropped.
pub struct OwnBroker {
    pub port: u16,
    program: &'static str,
    args: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnBroker {
    /// `nats-server` with JetStream, its store in a directory of its own (kept across
    /// restarts, as a real server's disk is).
    pub async fn nats() -> Option<Self> {
        Self::nats_on(free_port()).await
    }

    pub async fn nats_on(port: u16) -> Option<Self> {
        if !on_path("nats-server") {
            return None;
        }
        let dir = std::env::temp_dir().join(unique("cs-nats-"));
        std::fs::create_dir_all(&dir).unwrap();
        let args = ["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd", &dir.display().to_string()]
            .map(String::from)
            .to_vec();
        let mut broker = Self { port, program: "nats-server", args, dir, child: None };
        broker.start().await;
        Some(broker)
    }

    /// `mosquitto` with persistence (sessions and their queued QoS 1 messages survive a
    /// restart), anonymous, on loopback.
    pub async fn mosquitto() -> Option<Self> {
        if !on_path("mosquitto") {
            return None;
        }
        let port = free_port();
        let dir = std::env::temp_dir().join(unique("cs-mosquitto-"));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n",
                dir.display()
            ),
        )
        .unwrap();
        let args = vec!["-c".to_string(), conf.display().to_string()];
        let mut broker = Self { port, program: "mosquitto", args, dir, child: None };
        broker.start().await;
        Some(broker)
    }

    pub fn nats_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn mqtt_url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub async fn start(&mut self) {
        let child = Command::new(self.program)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("{} starts: {err}", self.program));
        self.child = Some(child);
        wait_listening(self.port, self.program).await;
    }

    /// SIGKILL: the broker vanishes without a goodbye to its clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, waiting for the exit (mosquitto writes its persistence then).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

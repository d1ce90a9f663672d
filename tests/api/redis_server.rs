//! Redis for tests: the shared server on 6379 (with a channel prefix per test), or a
//! `redis-server` of the test's own on a free port, for tests that kill and restart it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::unavailable;

pub const SHARED_REDIS: &str = "redis://127.0.0.1:6379";

/// The shared Redis, if it answers.
pub fn shared() -> Option<String> {
    match std::net::TcpStream::connect_timeout(&"127.0.0.1:6379".parse().unwrap(), Duration::from_secs(2)) {
        Ok(_) => Some(SHARED_REDIS.to_string()),
        Err(err) => {
            unavailable("Redis", &format!("127.0.0.1:6379: {err}"));
            None
        }
    }
}

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a private `redis-server` (no persistence) on a free port.
    pub async fn start() -> Option<Self> {
        if Command::new("redis-server").arg("--version").stdout(Stdio::null()).status().is_err() {
            unavailable("redis-server", "not on PATH");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = Self { port, child: None };
        server.restart().await;
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts the server on the same port and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let pong = async || self.command(&["PING"]).await;
        let up = crate::helpers::eventually(Duration::from_secs(5), pong, Option::is_some).await;
        assert!(up.is_ok(), "redis-server on port {} did not come up", self.port);
    }

    /// Runs a command, returning its reply as text.
    pub async fn command(&self, args: &[&str]) -> Option<String> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut connection = client.get_multiplexed_async_connection().await.ok()?;
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        let value: redis::Value = cmd.query_async(&mut connection).await.ok()?;
        Some(match value {
            redis::Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).to_string(),
            redis::Value::SimpleString(s) => s,
            redis::Value::VerbatimString { text, .. } => text,
            other => format!("{other:?}"),
        })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

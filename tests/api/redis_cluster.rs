//! A Redis Cluster of the test's own: six `redis-server --cluster-enabled yes` on free
//! ports in a temporary directory, joined by `redis-cli --cluster create … --cluster-replicas 1`
//! (three masters, three replicas), with a short node timeout so a killed master fails
//! over within seconds. Everything is killed and removed on drop.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::unavailable;

/// Milliseconds before a silent node is failed over.
const NODE_TIMEOUT_MS: u32 = 1000;

pub struct RedisCluster {
    pub ports: Vec<u16>,
    dir: PathBuf,
    children: HashMap<u16, Child>,
}

/// A master and the slot ranges it serves.
#[derive(Clone, Debug)]
pub struct Master {
    pub port: u16,
    pub ranges: Vec<(u16, u16)>,
}

impl Master {
    pub fn serves(&self, slot: u16) -> bool {
        self.ranges.iter().any(|(start, end)| *start <= slot && slot <= *end)
    }
}

fn on_path(program: &str) -> bool {
    Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Six ports p (with p + 10000 free too: the cluster bus port).
fn free_ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    let mut held = Vec::new();
    while ports.len() < n {
        let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else { continue };
        let port = listener.local_addr().unwrap().port();
        if !(1024..55000).contains(&port) {
            continue;
        }
        let Ok(bus) = std::net::TcpListener::bind(("127.0.0.1", port + 10000)) else { continue };
        held.push((listener, bus));
        ports.push(port);
    }
    ports
}

impl RedisCluster {
    /// Starts the cluster and waits until it is `cluster_state:ok` with every replica
    /// attached; None (skipped) when redis-server or redis-cli is missing.
    pub async fn start() -> Option<Self> {
        for program in ["redis-server", "redis-cli"] {
            if !on_path(program) {
                unavailable(program, "not on PATH (needed for the Redis Cluster tests)");
                return None;
            }
        }
        let dir = std::env::temp_dir().join(format!("clinicstream-cluster-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let ports = free_ports(6);
        let mut cluster = Self { ports: ports.clone(), dir, children: HashMap::new() };
        for port in &ports {
            cluster.spawn(*port);
        }
        for port in &ports {
            cluster.wait_for(*port).await;
        }
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let create = tokio::process::Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .expect("redis-cli runs");
        assert!(
            create.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&create.stdout)
        );
        let healthy = crate::helpers::eventually(Duration::from_secs(20), async || cluster.healthy().await, |ok| *ok);
        assert!(healthy.await.is_ok(), "the test cluster did not become healthy");
        Some(cluster)
    }

    fn spawn(&mut self, port: u16) {
        let node_dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&node_dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            .arg("--dir")
            .arg(&node_dir)
            .args(["--cluster-config-file", "nodes.conf"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.children.insert(port, child);
    }

    async fn wait_for(&self, port: u16) {
        let pong = async || self.command(port, &["PING"]).await;
        let up = crate::helpers::eventually(Duration::from_secs(5), pong, Option::is_some).await;
        assert!(up.is_ok(), "redis-server on port {port} did not come up");
    }

    /// Every live node says `cluster_state:ok` and the masters have a replica each.
    pub async fn healthy(&self) -> bool {
        for port in self.children.keys() {
            match self.command(*port, &["CLUSTER", "INFO"]).await {
                Some(info) if info.contains("cluster_state:ok") => {}
                _ => return false,
            }
        }
        let Some(port) = self.children.keys().next() else { return false };
        let Some(redis::Value::Array(slots)) = self.value(*port, &["CLUSTER", "SLOTS"]).await else { return false };
        slots.len() >= 3 && slots.iter().all(|s| matches!(s, redis::Value::Array(f) if f.len() >= 4))
    }

    /// `host:port,…` of every node, for REDIS_CLUSTER_NODES.
    pub fn nodes(&self) -> String {
        self.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>().join(",")
    }

    /// The masters as a live node sees them.
    pub async fn masters(&self) -> Vec<Master> {
        let mut ports: Vec<u16> = self.children.keys().copied().collect();
        ports.sort();
        for port in ports {
            let Some(redis::Value::Array(slots)) = self.value(port, &["CLUSTER", "SLOTS"]).await else { continue };
            let mut masters: HashMap<u16, Vec<(u16, u16)>> = HashMap::new();
            for entry in slots {
                let redis::Value::Array(fields) = entry else { continue };
                let (redis::Value::Int(start), redis::Value::Int(end), redis::Value::Array(node)) =
                    (&fields[0], &fields[1], &fields[2])
                else {
                    continue;
                };
                let redis::Value::Int(master) = node[1] else { continue };
                masters.entry(master as u16).or_default().push((*start as u16, *end as u16));
            }
            let mut masters: Vec<Master> = masters.into_iter().map(|(port, ranges)| Master { port, ranges }).collect();
            masters.sort_by_key(|m| m.ranges.iter().map(|r| r.0).min());
            return masters;
        }
        Vec::new()
    }

    /// CLUSTER KEYSLOT, asked of the cluster.
    pub async fn keyslot(&self, key: &str) -> u16 {
        let port = *self.children.keys().next().unwrap();
        match self.value(port, &["CLUSTER", "KEYSLOT", key]).await {
            Some(redis::Value::Int(slot)) => slot as u16,
            other => panic!("CLUSTER KEYSLOT answered {other:?}"),
        }
    }

    /// Kills a node at once (SIGKILL: no goodbye to its clients or peers).
    pub fn kill(&mut self, port: u16) {
        if let Some(mut child) = self.children.remove(&port) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs a command on one node, returning its reply.
    pub async fn value(&self, port: u16, args: &[&str]) -> Option<redis::Value> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let mut connection = client.get_multiplexed_async_connection_with_config(&config).await.ok()?;
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query_async(&mut connection).await.ok()
    }

    /// Runs a command on one node, returning its reply as text.
    pub async fn command(&self, port: u16, args: &[&str]) -> Option<String> {
        Some(match self.value(port, args).await? {
            redis::Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).to_string(),
            redis::Value::SimpleString(s) => s,
            redis::Value::VerbatimString { text, .. } => text,
            other => format!("{other:?}"),
        })
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        let ports: Vec<u16> = self.children.keys().copied().collect();
        for port in ports {
            self.kill(port);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

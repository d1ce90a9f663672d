//! The bus settings: one Redis (`REDIS_URL`) or a Redis Cluster (`REDIS_CLUSTER_NODES`)
//! to carry events across replicas — in-process without either — the channels' prefix,
//! the outbox relay's pace and how many events a practice's subscribers may lag.

use clap::Args;
use std::time::Duration;

use super::cluster::{ClusterNodes, ClusterSettings, parse_cluster_nodes};
use super::outbox::RelaySettings;
use super::redis::RedisSettings;
use super::redis_publisher::MAX_BATCH;

/// The bus settings.
#[derive(Debug, Clone, Args)]
pub struct BusArgs {
    /// Redis URL (`redis://host:port`): fan events out across replicas. Without it the bus
    /// is in-process (one replica).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Redis Cluster seed nodes, `host:port,host:port,…`: the bus runs on the cluster
    /// (sharded pub/sub, SPUBLISH/SSUBSCRIBE) instead of one Redis. Excludes `REDIS_URL`.
    #[arg(long, env = "REDIS_CLUSTER_NODES", value_parser = parse_cluster_nodes)]
    pub redis_cluster_nodes: Option<ClusterNodes>,
    /// Prefix of the Redis channel names, so deployments (and tests) can share one Redis.
    #[arg(long, env = "REDIS_PREFIX", default_value = "clinicstream")]
    pub redis_prefix: String,
    /// How often the outbox relay looks for events whose publish did not happen, in ms.
    #[arg(long, env = "RELAY_INTERVAL_MS", default_value_t = 250)]
    pub relay_interval_ms: u64,
    /// How old an unpublished event must be before the relay publishes it, in ms.
    #[arg(long, env = "RELAY_GRACE_MS", default_value_t = 1000)]
    pub relay_grace_ms: u64,
    /// Events buffered per practice for live subscribers; a subscriber further behind
    /// catches up from the log.
    #[arg(long, env = "BUS_CAPACITY", default_value_t = 1024)]
    pub bus_capacity: usize,
}

/// The bus the settings ask for.
pub enum BusChoice {
    /// In-process: one replica.
    Memory,
    Redis(RedisSettings),
    Cluster(ClusterSettings),
}

impl BusArgs {
    /// Which bus to open, with its settings; both Redis settings at once are refused.
    pub fn choice(&self) -> Result<BusChoice, &'static str> {
        let relay = RelaySettings {
            interval: Duration::from_millis(self.relay_interval_ms.max(10)),
            grace: Duration::from_millis(self.relay_grace_ms),
        };
        let (prefix, capacity) = (self.redis_prefix.clone(), self.bus_capacity);
        match (&self.redis_url, &self.redis_cluster_nodes) {
            (Some(_), Some(_)) => Err("set REDIS_URL (one Redis) or REDIS_CLUSTER_NODES (a cluster), not both"),
            (None, Some(nodes)) => Ok(BusChoice::Cluster(ClusterSettings {
                nodes: nodes.0.clone(),
                prefix,
                capacity,
                relay,
                publish_batch: MAX_BATCH,
            })),
            (Some(url), None) => Ok(BusChoice::Redis(RedisSettings {
                url: url.clone(),
                prefix,
                capacity,
                relay,
                publish_batch: MAX_BATCH,
            })),
            (None, None) => Ok(BusChoice::Memory),
        }
    }
}

//! A Redis Cluster's publish pipelines: one per shard, one round trip per shard per batch.
//! The cluster connection refuses a pipeline whose commands cross slots, and every
//! practice has a slot of its own, so each shard's pipeline goes on a direct connection to
//! its master, grouped by the topology the cluster listener last read. A practice whose
//! shard is unknown, or whose shard's pipeline failed (the slot moved and the node
//! answered MOVED, or the node went away), goes on a pipeline of its own through the
//! cluster connection, which routes by slot and follows MOVED. An event a node took
//! before its pipeline failed may so go out twice; subscribers drop a repeat by seq, as
//! they do the relay's.

use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::publisher::pipeline;
use super::wire;
use crate::events::{StoredEvent, per_practice};

/// The shard (master address, `host:port`) serving a channel, as last read; None when
/// unknown.
pub type ShardOf = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The cluster connection, where each channel lives, and the direct connections to the
/// masters. Cheap to clone.
#[derive(Clone)]
pub struct Shards {
    pub cluster: ClusterConnection,
    shard_of: ShardOf,
    /// The CLIENT SETNAME of the direct connections (one per master per replica).
    name: Arc<str>,
    links: Arc<Mutex<HashMap<String, MultiplexedConnection>>>,
    /// Held while a link is opened: batches in flight at once must not open two links to
    /// one master, or a later batch could reach it before an earlier one.
    opening: Arc<tokio::sync::Mutex<()>>,
}

impl Shards {
    pub fn new(cluster: ClusterConnection, shard_of: ShardOf, name: String) -> Self {
        Self { cluster, shard_of, name: name.into(), links: Arc::default(), opening: Arc::default() }
    }

    /// SPUBLISHes `events` in one pipeline per shard, all at once; the indices Redis took.
    pub async fn publish(&self, prefix: &str, events: &[Arc<StoredEvent>]) -> Vec<usize> {
        let mut by_shard: Vec<(Option<String>, Vec<Vec<usize>>)> = Vec::new();
        let indices = events.iter().enumerate().map(|(i, event)| (event.practice_id.as_str(), i));
        for (practice_id, indices) in per_practice(indices) {
            let shard = (self.shard_of)(&wire::channel(prefix, practice_id));
            match by_shard.iter_mut().find(|(known, _)| known.is_some() && *known == shard) {
                Some((_, practices)) => practices.push(indices),
                None => by_shard.push((shard, vec![indices])),
            }
        }
        let pipelines = by_shard.into_iter().map(|(shard, practices)| self.to_shard(shard, prefix, events, practices));
        futures_util::future::join_all(pipelines).await.into_iter().flatten().collect()
    }

    /// One shard's pipeline (`practices`: each practice's event indices, in seq order), or
    /// each practice's through the cluster connection when that cannot be or failed.
    async fn to_shard(
        &self,
        shard: Option<String>,
        prefix: &str,
        events: &[Arc<StoredEvent>],
        practices: Vec<Vec<usize>>,
    ) -> Vec<usize> {
        if let Some(address) = shard
            && let Some(mut link) = self.link(&address).await
        {
            let (pipe, members) = pipeline("SPUBLISH", prefix, events, practices.iter().flatten().copied());
            if members.is_empty() {
                return members;
            }
            match pipe.query_async::<()>(&mut link).await {
                Ok(()) => return members,
                Err(err) => {
                    tracing::debug!(shard = %address, error = %err, "a shard's publish pipeline failed; publishing by slot");
                    if !matches!(err.kind(), redis::ErrorKind::Server(_)) {
                        self.links.lock().unwrap_or_else(|p| p.into_inner()).remove(&address);
                    }
                }
            }
        }
        let alone = practices.into_iter().map(|indices| {
            let (pipe, members) = pipeline("SPUBLISH", prefix, events, indices);
            let mut cluster = self.cluster.clone();
            async move {
                if members.is_empty() {
                    return members;
                }
                match pipe.query_async::<()>(&mut cluster).await {
                    Ok(()) => members,
                    Err(err) => {
                        tracing::debug!(error = %err, events = members.len(), "publish pipeline failed; the relay will retry");
                        Vec::new()
                    }
                }
            }
        });
        futures_util::future::join_all(alone).await.into_iter().flatten().collect()
    }

    /// The direct connection to a master, opened on first use; None if it cannot be.
    async fn link(&self, address: &str) -> Option<MultiplexedConnection> {
        let held = || self.links.lock().unwrap_or_else(|p| p.into_inner()).get(address).cloned();
        if let Some(link) = held() {
            return Some(link);
        }
        // One opening at a time (in the order the batches asked), and then the link a
        // batch before this one may have opened meanwhile.
        let _opening = self.opening.lock().await;
        if let Some(link) = held() {
            return Some(link);
        }
        let client = redis::Client::open(format!("redis://{address}")).ok()?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)));
        match client.get_multiplexed_async_connection_with_config(&config).await {
            Ok(mut link) => {
                let _: redis::RedisResult<()> =
                    redis::cmd("CLIENT").arg("SETNAME").arg(&*self.name).query_async(&mut link).await;
                self.links.lock().unwrap_or_else(|p| p.into_inner()).insert(address.to_string(), link.clone());
                Some(link)
            }
            Err(err) => {
                tracing::debug!(shard = %address, error = %err, "cannot connect to a shard to publish; publishing by slot");
                None
            }
        }
    }
}

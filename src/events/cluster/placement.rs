//! Where the cluster listener's practices are subscribed: the topology it reads, the
//! connection to each shard that owns a wanted channel, and the repair that moves waiting
//! practices to their owner after a failover or a resharding (and has them resync).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::listener::{Push, Shard, State, ssubscribe, sunsubscribe};
use super::shards::Needed;
use super::slots::Topology;
use crate::events::BusMessage;

impl State {
    /// Closes a shard's connection; its practices wait for the repair.
    pub(super) fn drop_shard(&mut self, address: &str) {
        if let Some(shard) = self.shards.remove(address) {
            self.waiting.extend(shard.practices.into_iter().filter(|p| self.wanted.contains(p)));
        }
    }

    /// The nodes to ask for the topology: the known masters first, then the seeds.
    pub(super) fn addresses(&self) -> Vec<String> {
        let mut addresses: Vec<String> = self.shards.keys().cloned().collect();
        for node in self.topology.masters().into_iter().chain(self.listener.seeds.iter().cloned()) {
            if !addresses.contains(&node) {
                addresses.push(node);
            }
        }
        addresses
    }

    pub(super) async fn refresh_topology(&mut self) -> bool {
        match Topology::fetch(&self.addresses()).await {
            Ok(topology) => {
                let topology = Arc::new(topology);
                *self.listener.topology.write().unwrap_or_else(|p| p.into_inner()) = topology.clone();
                self.topology = topology;
                self.topology_error = None;
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not read the redis cluster topology");
                self.topology_error = Some(err);
                false
            }
        }
    }

    /// Rereads the topology, moves channels whose slot went elsewhere, and subscribes
    /// the waiting ones on their owner; each of those resyncs from the log.
    pub(super) async fn repair(&mut self) {
        if !self.refresh_topology().await && self.waiting.is_empty() {
            return;
        }
        let mut moved = Vec::new();
        for shard in self.shards.values() {
            for practice_id in &shard.practices {
                if self.owner(practice_id).is_some_and(|owner| owner != shard.address) {
                    moved.push((shard.address.clone(), practice_id.clone()));
                }
            }
        }
        for (address, practice_id) in moved {
            let channel = self.channel(&practice_id);
            if let Some(shard) = self.shards.get_mut(&address) {
                shard.practices.remove(&practice_id);
                // Best effort: the node may not know yet that the slot moved.
                let _ = sunsubscribe(&mut shard.connection, &channel).await;
                if shard.practices.is_empty() {
                    self.shards.remove(&address);
                }
            }
            self.waiting.insert(practice_id);
        }
        let waiting: Vec<String> = self.waiting.iter().cloned().collect();
        let mut resubscribed: BTreeMap<String, u64> = BTreeMap::new();
        for practice_id in waiting {
            if !self.waiting.contains(&practice_id) {
                continue;
            }
            if let Some(address) = self.place(&practice_id).await {
                self.waiting.remove(&practice_id);
                // Whatever was published while the channel was subscribed nowhere is in the log.
                self.listener.local.deliver(&practice_id, BusMessage::Resync);
                *resubscribed.entry(self.topology.label(&address)).or_default() += 1;
            }
        }
        for (label, channels) in resubscribed {
            tracing::info!(shard = %label, channels, "redis cluster channels resubscribed");
            self.listener.states.resubscribed(&label, channels);
        }
    }

    /// Subscribes a practice's channel on the shard that owns it, connecting to the shard
    /// if needed; the owner's address, or None (the practice then waits for the repair).
    pub(super) async fn place(&mut self, practice_id: &str) -> Option<String> {
        let channel = self.channel(practice_id);
        let owner = self.owner(practice_id)?.to_string();
        if !self.shards.contains_key(&owner) {
            match self.connect(&owner).await {
                Ok(shard) => {
                    self.shards.insert(owner.clone(), shard);
                }
                Err(err) => {
                    tracing::warn!(address = %owner, error = %err, "redis cluster shard connection failed");
                    return None;
                }
            }
        }
        let shard = self.shards.get_mut(&owner)?;
        match ssubscribe(&mut shard.connection, &channel).await {
            Ok(()) => {
                shard.practices.insert(practice_id.to_string());
                Some(owner)
            }
            Err(err) => {
                // MOVED or ASK: the topology changed; anything else: the connection is suspect.
                tracing::info!(address = %owner, error = %err, "SSUBSCRIBE failed; rereading the topology");
                let moved = matches!(err.kind(), redis::ErrorKind::Server(_));
                if !moved {
                    self.drop_shard(&owner);
                } else if shard.practices.is_empty() {
                    self.shards.remove(&owner);
                }
                None
            }
        }
    }

    pub(super) async fn connect(&mut self, address: &str) -> redis::RedisResult<Shard> {
        self.generations += 1;
        let generation = self.generations;
        let pushes = self.pushes.clone();
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_push_sender(move |info| pushes.send(Push { generation, info }));
        let client = redis::Client::open(format!("redis://{address}/?protocol=resp3"))?;
        let mut connection = client.get_multiplexed_async_connection_with_config(&config).await?;
        let _: () = redis::cmd("CLIENT").arg("SETNAME").arg(&self.listener.name).query_async(&mut connection).await?;
        Ok(Shard { address: address.to_string(), generation, connection, practices: HashSet::new() })
    }

    /// Tells readiness and the gauges which shards are needed and connected.
    pub(super) fn report(&self) {
        let mut shards = BTreeMap::new();
        for shard in self.shards.values() {
            shards.insert(
                self.topology.label(&shard.address),
                Needed { address: shard.address.clone(), connected: true },
            );
        }
        for practice_id in &self.waiting {
            if let Some(owner) = self.owner(practice_id) {
                let needed = Needed { address: owner.to_string(), connected: false };
                shards.entry(self.topology.label(owner)).or_insert(needed);
            }
        }
        self.listener.states.replace(shards, self.waiting.len(), self.topology_error.clone());
    }
}

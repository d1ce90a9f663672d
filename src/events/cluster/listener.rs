//! The replica's pub/sub side of the cluster: one RESP3 connection per shard that owns a
//! channel with local subscribers, SSUBSCRIBEd to those channels only. A dropped
//! connection, a MOVED answer or a server-sent `sunsubscribe` sends the affected
//! practices to `waiting`; the repair rereads the topology (CLUSTER SLOTS), subscribes
//! them on their owner and tells their subscribers to resync from the log, which holds
//! whatever was published meanwhile.

use redis::aio::MultiplexedConnection;
use redis::{PushInfo, PushKind, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::shards::{Needed, ShardStates};
use super::slots::{Topology, key_slot};
use crate::events::BusMessage;
use crate::events::local::LocalFanout;
use crate::events::redis::wire;

pub enum Command {
    Subscribe(String),
    Unsubscribe(String),
    /// Answered once every earlier command is done.
    Barrier(oneshot::Sender<()>),
}

/// How often the topology is reread while all is well, to notice a resharding whose
/// `sunsubscribe` went missing.
const CHECK_EVERY: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub struct Listener {
    pub seeds: Vec<String>,
    pub prefix: String,
    /// CLIENT SETNAME of every pub/sub connection, so operators (and tests) can find them.
    pub name: String,
    pub local: Arc<LocalFanout>,
    pub states: ShardStates,
    pub shutdown: CancellationToken,
}

/// A push from a shard's connection, tagged with the connection it came from.
struct Push {
    generation: u64,
    info: PushInfo,
}

struct Shard {
    address: String,
    generation: u64,
    connection: MultiplexedConnection,
    practices: HashSet<String>,
}

struct State {
    listener: Listener,
    topology: Topology,
    topology_error: Option<String>,
    /// Connected shards, by master address.
    shards: HashMap<String, Shard>,
    /// Practices with local subscribers.
    wanted: HashSet<String>,
    /// Wanted practices subscribed nowhere right now.
    waiting: HashSet<String>,
    generations: u64,
    pushes: mpsc::UnboundedSender<Push>,
}

impl Listener {
    #[tracing::instrument(skip_all, name = "redis_cluster_listener")]
    pub async fn run(self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let (pushes, mut push_rx) = mpsc::unbounded_channel();
        let shutdown = self.shutdown.clone();
        let mut state = State {
            listener: self,
            topology: Topology::default(),
            topology_error: None,
            shards: HashMap::new(),
            wanted: HashSet::new(),
            waiting: HashSet::new(),
            generations: 0,
            pushes,
        };
        state.refresh_topology().await;
        let mut check = tokio::time::interval(CHECK_EVERY);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut backoff = Duration::from_millis(50);
        let mut repair_at: Option<Instant> = None;
        loop {
            let repair = async {
                match repair_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            // Whether the shards may have changed (a message does not change them).
            let changed = tokio::select! {
                _ = shutdown.cancelled() => return,
                command = commands.recv() => match command {
                    None => return,
                    Some(command) => state.command(command).await,
                },
                Some(push) = push_rx.recv() => state.push(push),
                _ = repair => {
                    repair_at = None;
                    state.repair().await;
                    true
                }
                _ = check.tick() => {
                    if !state.wanted.is_empty() {
                        state.repair().await;
                    }
                    true
                }
            };
            if !changed {
                continue;
            }
            if state.waiting.is_empty() {
                repair_at = None;
                backoff = Duration::from_millis(50);
            } else if repair_at.is_none() {
                repair_at = Some(Instant::now() + backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            state.report();
        }
    }
}

impl State {
    fn channel(&self, practice_id: &str) -> String {
        wire::channel(&self.listener.prefix, practice_id)
    }

    fn owner(&self, practice_id: &str) -> Option<&str> {
        self.topology.owner(key_slot(self.channel(practice_id).as_bytes()))
    }

    /// Runs a command; false if it cannot have changed the shards.
    async fn command(&mut self, command: Command) -> bool {
        match command {
            Command::Subscribe(practice_id) => {
                self.wanted.insert(practice_id.clone());
                let placed = self.shards.values().any(|s| s.practices.contains(&practice_id));
                if !placed && self.place(&practice_id).await.is_none() {
                    self.waiting.insert(practice_id);
                }
            }
            Command::Unsubscribe(practice_id) => {
                self.wanted.remove(&practice_id);
                self.waiting.remove(&practice_id);
                let channel = self.channel(&practice_id);
                let holder = self.shards.values_mut().find(|s| s.practices.contains(&practice_id));
                if let Some(shard) = holder {
                    shard.practices.remove(&practice_id);
                    if shard.practices.is_empty() {
                        // The shard's last channel: close the connection (that unsubscribes).
                        let address = shard.address.clone();
                        self.shards.remove(&address);
                    } else if let Err(err) = sunsubscribe(&mut shard.connection, &channel).await {
                        tracing::debug!(error = %err, "SUNSUBSCRIBE failed");
                    }
                }
            }
            Command::Barrier(done) => {
                let _ = done.send(());
                return false;
            }
        }
        true
    }

    /// Handles a push; false if it cannot have changed the shards (a message).
    fn push(&mut self, push: Push) -> bool {
        let Push { generation, info } = push;
        match info.kind {
            PushKind::SMessage | PushKind::Message => {
                let (Some(channel), Some(payload)) = (info.data.first(), info.data.get(1)) else { return false };
                let (Some(channel), Some(payload)) = (bytes(channel), bytes(payload)) else { return false };
                self.deliver(&String::from_utf8_lossy(channel), payload);
                return false;
            }
            PushKind::Disconnection => {
                let Some(address) =
                    self.shards.values().find(|s| s.generation == generation).map(|s| s.address.clone())
                else {
                    return false; // A connection already let go.
                };
                tracing::warn!(%address, "redis cluster pub/sub connection lost; resubscribing elsewhere");
                self.drop_shard(&address);
            }
            // Redis unsubscribes a shard channel itself when its slot moves away (failover
            // of a replica over its master, resharding): subscribe it where it went.
            PushKind::SUnsubscribe => {
                let Some(channel) = info.data.first().and_then(bytes) else { return false };
                let channel = String::from_utf8_lossy(channel).to_string();
                let Some(practice_id) = wire::practice_of(&self.listener.prefix, &channel).map(str::to_string) else {
                    return false;
                };
                if !self.wanted.contains(&practice_id) {
                    return false; // The confirmation of our own SUNSUBSCRIBE.
                }
                let Some(shard) = self.shards.values_mut().find(|s| s.generation == generation) else { return false };
                if shard.practices.remove(&practice_id) {
                    tracing::info!(channel, address = %shard.address, "shard unsubscribed a channel; moving it");
                    self.waiting.insert(practice_id);
                }
            }
            _ => return false,
        }
        true
    }

    fn deliver(&self, channel: &str, payload: &[u8]) {
        let Some(practice_id) = wire::practice_of(&self.listener.prefix, channel) else { return };
        match wire::decode(payload) {
            Ok(event) if event.practice_id == practice_id => {
                self.listener.local.deliver(practice_id, BusMessage::Event(Arc::new(event)));
            }
            Ok(_) => tracing::warn!(channel, "event for another practice on a practice channel; dropped"),
            Err(err) => {
                tracing::warn!(channel, error = %err, "undecodable bus message; resyncing from the log");
                self.listener.local.deliver(practice_id, BusMessage::Resync);
            }
        }
    }

    /// Closes a shard's connection; its practices wait for the repair.
    fn drop_shard(&mut self, address: &str) {
        if let Some(shard) = self.shards.remove(address) {
            self.waiting.extend(shard.practices.into_iter().filter(|p| self.wanted.contains(p)));
        }
    }

    /// The nodes to ask for the topology: the known masters first, then the seeds.
    fn addresses(&self) -> Vec<String> {
        let mut addresses: Vec<String> = self.shards.keys().cloned().collect();
        for node in self.topology.masters().into_iter().chain(self.listener.seeds.iter().cloned()) {
            if !addresses.contains(&node) {
                addresses.push(node);
            }
        }
        addresses
    }

    async fn refresh_topology(&mut self) -> bool {
        match Topology::fetch(&self.addresses()).await {
            Ok(topology) => {
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
    async fn repair(&mut self) {
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
    async fn place(&mut self, practice_id: &str) -> Option<String> {
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

    async fn connect(&mut self, address: &str) -> redis::RedisResult<Shard> {
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
    fn report(&self) {
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

fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.as_bytes()),
        _ => None,
    }
}

async fn ssubscribe(connection: &mut MultiplexedConnection, channel: &str) -> redis::RedisResult<()> {
    let _: Value = redis::cmd("SSUBSCRIBE").arg(channel).query_async(connection).await?;
    Ok(())
}

async fn sunsubscribe(connection: &mut MultiplexedConnection, channel: &str) -> redis::RedisResult<()> {
    let _: Value = redis::cmd("SUNSUBSCRIBE").arg(channel).query_async(connection).await?;
    Ok(())
}

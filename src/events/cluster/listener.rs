//! The replica's pub/sub side of the cluster: one RESP3 connection per shard that owns a
//! channel with local subscribers, SSUBSCRIBEd to those channels only. A dropped
//! connection, a MOVED answer or a server-sent `sunsubscribe` sends the affected
//! practices to `waiting`; the repair rereads the topology (CLUSTER SLOTS), subscribes
//! them on their owner and tells their subscribers to resync from the log, which holds
//! whatever was published meanwhile.

use redis::aio::MultiplexedConnection;
use redis::{PushInfo, PushKind, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::shards::ShardStates;
use super::slots::{SharedTopology, Topology, key_slot};
use crate::events::BusMessage;
use crate::events::local::LocalFanout;
use crate::events::redis::wire;

/// What the cluster bus asks of its sharded pub/sub listener: (un)subscribe a practice's
/// channel on the shard that owns it, or say when everything asked before is done.
pub enum ShardedPubSubCommand {
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
    /// Where the topology read is shared with the publisher.
    pub topology: SharedTopology,
    pub shutdown: CancellationToken,
}

/// A push from a shard's connection, tagged with the connection it came from.
pub(super) struct Push {
    pub(super) generation: u64,
    pub(super) info: PushInfo,
}

pub(super) struct Shard {
    pub(super) address: String,
    pub(super) generation: u64,
    pub(super) connection: MultiplexedConnection,
    pub(super) practices: HashSet<String>,
}

pub(super) struct State {
    pub(super) listener: Listener,
    pub(super) topology: Arc<Topology>,
    pub(super) topology_error: Option<String>,
    /// Connected shards, by master address.
    pub(super) shards: HashMap<String, Shard>,
    /// Practices with local subscribers.
    pub(super) wanted: HashSet<String>,
    /// Wanted practices subscribed nowhere right now.
    pub(super) waiting: HashSet<String>,
    pub(super) generations: u64,
    pub(super) pushes: mpsc::UnboundedSender<Push>,
}

impl Listener {
    #[tracing::instrument(skip_all, name = "redis_cluster_listener")]
    pub async fn run(self, mut commands: mpsc::UnboundedReceiver<ShardedPubSubCommand>) {
        let (pushes, mut push_rx) = mpsc::unbounded_channel();
        let shutdown = self.shutdown.clone();
        let mut state = State {
            listener: self,
            topology: Arc::default(),
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
    pub(super) fn channel(&self, practice_id: &str) -> String {
        wire::channel(&self.listener.prefix, practice_id)
    }

    pub(super) fn owner(&self, practice_id: &str) -> Option<&str> {
        self.topology.owner(key_slot(self.channel(practice_id).as_bytes()))
    }

    /// Runs a command; false if it cannot have changed the shards.
    async fn command(&mut self, command: ShardedPubSubCommand) -> bool {
        match command {
            ShardedPubSubCommand::Subscribe(practice_id) => {
                self.wanted.insert(practice_id.clone());
                let placed = self.shards.values().any(|s| s.practices.contains(&practice_id));
                if !placed && self.place(&practice_id).await.is_none() {
                    self.waiting.insert(practice_id);
                }
            }
            ShardedPubSubCommand::Unsubscribe(practice_id) => {
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
            ShardedPubSubCommand::Barrier(done) => {
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
}

fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.as_bytes()),
        _ => None,
    }
}

pub(super) async fn ssubscribe(connection: &mut MultiplexedConnection, channel: &str) -> redis::RedisResult<()> {
    let _: Value = redis::cmd("SSUBSCRIBE").arg(channel).query_async(connection).await?;
    Ok(())
}

pub(super) async fn sunsubscribe(connection: &mut MultiplexedConnection, channel: &str) -> redis::RedisResult<()> {
    let _: Value = redis::cmd("SUNSUBSCRIBE").arg(channel).query_async(connection).await?;
    Ok(())
}

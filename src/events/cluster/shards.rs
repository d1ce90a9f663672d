//! What the listener tells readiness and `/metrics` about the shards: the ones this
//! replica needs (they own a channel with local subscribers) and whether it is connected
//! to each.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::events::{Counters, ShardLabel};

/// A shard this replica needs: its master's address and whether it is subscribed there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needed {
    pub address: String,
    pub connected: bool,
}

/// Shared between the listener (writes) and the bus's `ready` (reads).
#[derive(Clone)]
pub struct ShardStates {
    inner: Arc<Mutex<State>>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct State {
    /// By shard label.
    shards: BTreeMap<String, Needed>,
    /// Practices with local subscribers whose channel is subscribed nowhere right now.
    waiting: usize,
    /// Why the topology could not be read, if it could not.
    topology_error: Option<String>,
}

impl ShardStates {
    pub fn new(counters: Arc<Counters>) -> Self {
        Self { inner: Arc::default(), counters }
    }

    fn label(shard: &str) -> ShardLabel {
        ShardLabel { shard: shard.to_string() }
    }

    /// Replaces the picture (and the `shard_connected` gauges: 0 for shards no longer needed).
    pub fn replace(&self, shards: BTreeMap<String, Needed>, waiting: usize, topology_error: Option<String>) {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for gone in state.shards.keys().filter(|label| !shards.contains_key(*label)) {
            self.counters.shard_connected.get_or_create(&Self::label(gone)).set(0);
        }
        for (label, needed) in &shards {
            self.counters.shard_connected.get_or_create(&Self::label(label)).set(i64::from(needed.connected));
        }
        *state = State { shards, waiting, topology_error };
    }

    /// `channels` were resubscribed on the shard `label`.
    pub fn resubscribed(&self, label: &str, channels: u64) {
        self.counters.shard_resubscribes.get_or_create(&Self::label(label)).inc_by(channels);
    }

    /// Ready when every shard that owns a local subscriber's channel is connected and
    /// every such channel is subscribed.
    pub fn ready(&self) -> Result<(), String> {
        let state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let down: Vec<String> = state
            .shards
            .iter()
            .filter(|(_, s)| !s.connected)
            .map(|(label, s)| format!("{label} ({})", s.address))
            .collect();
        if !down.is_empty() {
            return Err(format!("redis cluster pub/sub is not connected to shard {}", down.join(", ")));
        }
        if state.waiting > 0 {
            let why = state.topology_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
            return Err(format!("redis cluster: {} practice channels wait for their shard{why}", state.waiting));
        }
        Ok(())
    }
}

//! Local fan-out: one broadcast channel per practice that has subscribers on this replica.
//! Both buses deliver through it; the Redis bus also learns here when to (un)subscribe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::broadcast;

use super::{BusMessage, BusSubscription};

type Channels = Mutex<HashMap<String, broadcast::Sender<BusMessage>>>;

/// Told when a practice's first local subscriber arrives or its last leaves. Called under
/// the channel lock, so the changes it sees are in the order they happened.
pub type Watcher = Arc<dyn Fn(ChannelChange) + Send + Sync>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelChange {
    Opened(String),
    Closed(String),
}

pub struct LocalFanout {
    channels: Arc<Channels>,
    capacity: usize,
    watcher: Option<Watcher>,
}

impl LocalFanout {
    pub fn new(capacity: usize, watcher: Option<Watcher>) -> Self {
        Self { channels: Arc::default(), capacity: capacity.max(16), watcher }
    }

    /// Delivers to the practice's local subscribers, if any.
    pub fn deliver(&self, practice_id: &str, message: BusMessage) {
        let channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = channels.get(practice_id) {
            // No receiver is not an error: the last one may just have left.
            let _ = sender.send(message);
        }
    }

    /// Tells every local subscriber to reread the log.
    pub fn resync_all(&self) {
        let channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        for sender in channels.values() {
            let _ = sender.send(BusMessage::Resync);
        }
    }

    /// The practices with local subscribers.
    pub fn practices(&self) -> Vec<String> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    /// Registers a subscriber; returns it and whether it is the practice's first.
    pub fn subscribe(&self, practice_id: &str) -> (BusSubscription, bool) {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        let mut opened = false;
        let sender = channels.entry(practice_id.to_string()).or_insert_with(|| {
            opened = true;
            broadcast::channel(self.capacity).0
        });
        let subscription = BusSubscription {
            receiver: sender.subscribe(),
            _guard: Some(Box::new(ChannelGuard {
                channels: Arc::downgrade(&self.channels),
                practice_id: practice_id.to_string(),
                watcher: self.watcher.clone(),
            })),
        };
        if opened && let Some(watch) = &self.watcher {
            watch(ChannelChange::Opened(practice_id.to_string()));
        }
        (subscription, opened)
    }
}

/// Drops a practice's channel when its last subscriber leaves, so idle practices cost nothing.
struct ChannelGuard {
    channels: Weak<Channels>,
    practice_id: String,
    watcher: Option<Watcher>,
}

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        let Some(channels) = self.channels.upgrade() else { return };
        let mut channels = channels.lock().unwrap_or_else(|e| e.into_inner());
        // The guard is dropped after its receiver (field order), so a count of zero
        // means nobody else listens.
        if channels.get(&self.practice_id).is_some_and(|s| s.receiver_count() == 0) {
            channels.remove(&self.practice_id);
            if let Some(watch) = &self.watcher {
                watch(ChannelChange::Closed(self.practice_id.clone()));
            }
        }
    }
}

//! The in-process bus: one broadcast channel per practice with live subscribers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::broadcast;

use super::{BusSubscription, EventBus, StoredEvent};

type Channels = Mutex<HashMap<String, broadcast::Sender<Arc<StoredEvent>>>>;

pub struct MemoryBus {
    channels: Arc<Channels>,
    capacity: usize,
}

impl MemoryBus {
    pub fn new(capacity: usize) -> Self {
        Self { channels: Arc::default(), capacity: capacity.max(16) }
    }
}

impl EventBus for MemoryBus {
    fn publish(&self, event: Arc<StoredEvent>) {
        let channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = channels.get(&event.practice_id) {
            // No receiver is not an error: nobody is listening to this practice.
            let _ = sender.send(event);
        }
    }

    fn subscribe(&self, practice_id: &str) -> BusSubscription {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        let sender = channels.entry(practice_id.to_string()).or_insert_with(|| broadcast::channel(self.capacity).0);
        BusSubscription {
            receiver: sender.subscribe(),
            _guard: Some(Box::new(ChannelGuard {
                channels: Arc::downgrade(&self.channels),
                practice_id: practice_id.to_string(),
            })),
        }
    }
}

/// Drops a practice's channel when its last subscriber leaves, so idle practices cost nothing.
struct ChannelGuard {
    channels: Weak<Channels>,
    practice_id: String,
}

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        let Some(channels) = self.channels.upgrade() else { return };
        let mut channels = channels.lock().unwrap_or_else(|e| e.into_inner());
        // The guard is dropped after its receiver (field order), so a count of zero
        // means nobody else listens.
        if channels.get(&self.practice_id).is_some_and(|s| s.receiver_count() == 0) {
            channels.remove(&self.practice_id);
        }
    }
}

//! The in-process bus: a single replica's events go straight to its local subscribers.

use futures_util::future::BoxFuture;
use std::sync::Arc;

use super::local::LocalFanout;
use super::{BusMessage, BusSubscription, EventBus, StoredEvent};

pub struct MemoryBus {
    local: LocalFanout,
}

impl MemoryBus {
    pub fn new(capacity: usize) -> Self {
        Self { local: LocalFanout::new(capacity, None) }
    }
}

impl EventBus for MemoryBus {
    fn publish(&self, event: Arc<StoredEvent>) {
        let practice_id = event.practice_id.clone();
        self.local.deliver(&practice_id, BusMessage::Event(event));
    }

    fn subscribe(&self, practice_id: &str) -> BoxFuture<'_, BusSubscription> {
        let (subscription, _) = self.local.subscribe(practice_id);
        Box::pin(async move { subscription })
    }
}

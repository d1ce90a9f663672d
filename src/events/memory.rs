//! The in-process bus: a single replica's events go straight to its local subscribers.

use futures_util::future::BoxFuture;
use std::sync::Arc;

use super::local::LocalFanout;
use super::{BusMessage, BusSubscription, Counters, EventBus, StoredEvent};

pub struct MemoryBus {
    local: LocalFanout,
    counters: Arc<Counters>,
}

impl MemoryBus {
    pub fn new(capacity: usize) -> Self {
        Self::counted(capacity, Arc::default())
    }

    /// A bus that counts what it publishes in `counters`.
    pub fn counted(capacity: usize, counters: Arc<Counters>) -> Self {
        Self { local: LocalFanout::new(capacity, None), counters }
    }
}

impl EventBus for MemoryBus {
    fn publish(&self, event: Arc<StoredEvent>) {
        self.counters.published.inc();
        let practice_id = event.practice_id.clone();
        self.local.deliver(&practice_id, BusMessage::Event(event));
    }

    fn subscribe(&self, practice_id: &str) -> BoxFuture<'_, BusSubscription> {
        let (subscription, _) = self.local.subscribe(practice_id);
        Box::pin(async move { subscription })
    }
}

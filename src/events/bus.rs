//! The event bus: how an appended event reaches the subscribers of its practice.
//! In-process today; Redis pub/sub across replicas plugs in behind the same trait.

use std::sync::Arc;
use tokio::sync::broadcast;

use super::StoredEvent;

pub trait EventBus: Send + Sync + 'static {
    /// Hands a committed event to every current subscriber of its practice.
    fn publish(&self, event: Arc<StoredEvent>);
    /// Starts receiving the events of one practice from now on.
    fn subscribe(&self, practice_id: &str) -> BusSubscription;
}

pub type SharedBus = Arc<dyn EventBus>;

/// A live feed of one practice's events. The receiver may lag (it then reports how many it
/// missed) and events may arrive out of seq order; `Feed` repairs both from the log.
pub struct BusSubscription {
    pub receiver: broadcast::Receiver<Arc<StoredEvent>>,
    /// Keeps the bus's per-practice state alive while this subscription exists.
    pub _guard: Option<Box<dyn Send + Sync>>,
}

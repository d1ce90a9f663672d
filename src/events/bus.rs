//! The event bus: how an appended event reaches the subscribers of its practice, on this
//! replica (in-process) or on every replica (Redis pub/sub), behind one trait.

use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::broadcast;

use super::StoredEvent;

/// What a subscription receives from the bus.
#[derive(Clone, Debug)]
pub enum BusMessage {
    /// A committed event (possibly out of seq order, possibly seen before).
    Event(Arc<StoredEvent>),
    /// The bus may have missed events (its connection dropped and came back): read the log.
    Resync,
}

pub trait EventBus: Send + Sync + 'static {
    /// Hands a committed event to every current subscriber of its practice. Never blocks:
    /// a bus that talks to a network queues the event.
    fn publish(&self, event: Arc<StoredEvent>);
    /// Starts receiving one practice's events. Resolves once events published from now on
    /// are certain to arrive (for Redis: once SUBSCRIBE is confirmed, when connected).
    fn subscribe(&self, practice_id: &str) -> BoxFuture<'_, BusSubscription>;
    /// Whether the bus can deliver right now (for readiness).
    fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

pub type SharedBus = Arc<dyn EventBus>;

/// A live feed of one practice's bus messages. The receiver may lag (it then reports how
/// many it missed) and events may arrive out of seq order; `Feed` repairs both from the log.
pub struct BusSubscription {
    pub receiver: broadcast::Receiver<BusMessage>,
    /// Keeps the bus's per-practice state alive while this subscription exists.
    pub _guard: Option<Box<dyn Send + Sync>>,
}

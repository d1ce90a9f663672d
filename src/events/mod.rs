//! Business events: what is stored in the log, how it is encoded, the bus that carries it
//! between transactions and subscribers, and the feed each subscriber reads.

mod bus;
mod cursor;
mod event;
mod feed;
pub mod log;
mod memory;
// Reminder scheduler (issue 4).
mod scheduler;

pub use bus::{BusSubscription, EventBus, SharedBus};
pub use cursor::Cursor;
pub use event::{Payload, StoredEvent};
pub use feed::{Feed, FeedFilter};
pub use memory::MemoryBus;
pub use scheduler::spawn_scheduler;

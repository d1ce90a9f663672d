//! Business events: what is stored in the log, how it is encoded, the buses that carry it
//! between transactions and subscribers (in-process, or Redis across replicas), the
//! outbox relay, the feed each subscriber reads, and the bus settings (`BusArgs`).

mod bus;
// Redis Cluster bus.
mod cluster;
mod counters;
mod cursor;
mod event;
mod feed;
mod local;
pub mod log;
mod memory;
pub mod outbox;
mod redis;
mod settings;

pub use bus::{BusMessage, BusSubscription, EventBus, SharedBus};
pub use cluster::{ClusterBus, ClusterNodes, ClusterSettings, MAX_CLUSTER_NODES, key_slot, parse_cluster_nodes};
pub use counters::{AttemptOutcome, Counters, GaugeGuard, OutcomeLabel, ShardLabel, StreamTransport, TransportLabel};
pub use cursor::Cursor;
pub(crate) use event::per_practice;
pub use event::{Payload, StoredEvent};
pub use feed::{Feed, FeedFilter, start_seq};
pub use memory::MemoryBus;
pub use outbox::RelaySettings;
pub use redis::{RedisBus, RedisSettings};
pub use redis_publisher::MAX_BATCH as MAX_PUBLISH_BATCH;
pub use settings::{BusArgs, BusChoice};

use self::redis::publisher as redis_publisher;

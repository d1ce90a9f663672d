//! The Redis Cluster bus (`REDIS_CLUSTER_NODES`): sharded pub/sub. Each practice's channel
//! (hash-tagged by practice, see `redis::wire::channel`) lives on one shard; events go out
//! by SPUBLISH through the cluster connection, and each replica holds one pub/sub
//! connection per shard that owns a channel with local subscribers, SSUBSCRIBEd there.
//! When a shard's connection drops, its node answers MOVED or sends `sunsubscribe` (a
//! failover or a resharding moved the slot), the listener rereads the topology,
//! resubscribes those channels on the new owner and has their subscribers resync from the
//! log, so nobody loses or repeats an event.

mod bus;
mod listener;
mod nodes;
mod placement;
mod shards;
mod slots;

pub use bus::{ClusterBus, ClusterSettings};
pub use nodes::{ClusterNodes, MAX_CLUSTER_NODES, parse_cluster_nodes};
pub use slots::key_slot;

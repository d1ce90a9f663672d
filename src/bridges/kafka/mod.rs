//! The Kafka bridge: each event a CloudEvent in structured mode (the record value is the
//! JSON event, header `content-type: application/cloudevents+json`), record key = the
//! practice id (one practice, one partition, seq order), on `BRIDGE_KAFKA_TOPIC`.
//!
//! Exactly once for `read_committed` consumers. Each practice has its own transactional
//! producer, with a transactional id stable per (topic, practice): a replica that takes a
//! practice over starts it and so fences the one before (its open transaction aborted,
//! its late writes refused). A batch is one transaction; it counts as acknowledged when
//! the commit returned. The cursor is the topic itself: on taking over (or after any
//! failure) the bridge reads the practice's partition back, as a `read_committed` reader,
//! and resumes after the last seq found there (`recover`); `bridge_cursors` only says
//! where to start the feed, and `kafka_marks` where to start reading back. So on a broker
//! that hides aborted records the aborted batch is sent again, and on one that shows them
//! (tansu 0.6.0 does: README, "Kafka") it is not — either way each event once, in order.
//!
//! A broker that cannot commit a transaction (tansu 0.6.0 has no EndTxn: `versions` asks
//! before the first producer starts, and a commit refused as unsupported says so too) gets
//! one idempotent producer that every practice shares instead, each record acknowledged
//! alone: no fencing, so at least once, with the CloudEvent `id` as the dedup key. The
//! read-back after a takeover or a failure still resumes after what the topic holds, so a
//! duplicate needs a write that lands after the read-back: from a replica that keeps
//! writing after it lost the practice, or a request the broker answers late
//! (`producer::close`).

mod marks;
mod partition;
mod producer;
mod recover;
mod topic;
mod versions;

pub use producer::Kafka;
pub use topic::create_topics;

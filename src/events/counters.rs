//! Counters of the event machinery's repairs, kept in state for readiness checks, tests
//! and (later) the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default, Debug)]
pub struct Counters {
    /// A subscriber read a range from the log because seq jumped or the bus resynced.
    pub gap_fills: Counter,
    /// A subscriber fell behind the local bus and caught up from the log.
    pub lag_catch_ups: Counter,
    /// Events the outbox relay published because the normal publish did not happen.
    pub republished: Counter,
    /// Times the Redis pub/sub connection was re-established.
    pub redis_reconnects: Counter,
    /// Publishes that failed (the relay retries them).
    pub publish_failures: Counter,
}

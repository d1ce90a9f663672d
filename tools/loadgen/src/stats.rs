//! What a run counts: latency histograms shared by every task (sharded so sockets rarely
//! contend), overall and per target, deliveries counted per practice (what the drain
//! waits for), and per-subscription delivery accounting by `seq`.

use hdrhistogram::Histogram;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_util::sync::CancellationToken;

const SHARDS: usize = 8;
/// Latencies are recorded in microseconds, from 1 µs to 2 minutes.
const MAX_MICROS: u64 = 120_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// A histogram written by many tasks: each records into the shard of its own index.
pub struct Sharded(Vec<Mutex<Histogram<u64>>>);

impl Sharded {
    fn new() -> Self {
        Self((0..SHARDS).map(|_| Mutex::new(histogram())).collect())
    }

    pub fn record(&self, shard: usize, micros: u64) {
        let mut h = self.0[shard % SHARDS].lock().unwrap_or_else(|e| e.into_inner());
        h.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    pub fn merged(&self) -> Histogram<u64> {
        let mut all = histogram();
        for shard in &self.0 {
            all.add(&*shard.lock().unwrap_or_else(|e| e.into_inner())).expect("same bounds");
        }
        all
    }
}

pub struct Shared {
    /// Payment sent (time in the payment's `reference`) → event read by a subscriber.
    pub end_to_end: Sharded,
    /// The same, one histogram per `--target`, so subscribers on a replica that did not
    /// take the mutation can be set against those on the one that did.
    pub end_to_end_by_target: Vec<Sharded>,
    /// The event's `occurredAt` (its commit) → read by a subscriber.
    pub commit_to_delivery: Sharded,
    /// Payment request sent → its HTTP response read.
    pub mutation: Sharded,
    /// First deliveries of a `seq` to a subscription, per practice.
    delivered: Vec<AtomicU64>,
    /// `error` messages, unexpected frames and sockets closed by the server.
    pub socket_errors: AtomicU64,
    stop: CancellationToken,
}

impl Shared {
    pub fn new(targets: usize, practices: usize) -> Self {
        Self {
            end_to_end: Sharded::new(),
            end_to_end_by_target: (0..targets).map(|_| Sharded::new()).collect(),
            commit_to_delivery: Sharded::new(),
            mutation: Sharded::new(),
            delivered: (0..practices).map(|_| AtomicU64::new(0)).collect(),
            socket_errors: AtomicU64::new(0),
            stop: CancellationToken::new(),
        }
    }

    pub fn delivered(&self, practice: usize) -> u64 {
        self.delivered[practice].load(Ordering::Relaxed)
    }

    pub fn count_delivery(&self, practice: usize) {
        self.delivered[practice].fetch_add(1, Ordering::Relaxed);
    }

    pub fn error_count(&self) -> u64 {
        self.socket_errors.load(Ordering::Relaxed)
    }

    pub fn error(&self) {
        self.socket_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    pub fn stopped(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.stop.cancelled()
    }
}

/// One subscription's deliveries of loadgen payments, by `seq`.
#[derive(Default, Clone)]
pub struct SubTrack {
    seen: Vec<u64>,
    pub distinct: u64,
    pub duplicates: u64,
    /// Deliveries whose `seq` was lower than one delivered before (in-order means 0).
    pub out_of_order: u64,
    last: u64,
}

impl SubTrack {
    /// Counts a delivery of `seq`; true when it is the first of that `seq`.
    pub fn deliver(&mut self, seq: u64) -> bool {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        if seq < self.last {
            self.out_of_order += 1;
        }
        self.last = self.last.max(seq);
        if self.seen[word] & (1 << bit) != 0 {
            self.duplicates += 1;
            return false;
        }
        self.seen[word] |= 1 << bit;
        self.distinct += 1;
        true
    }

    /// The highest `seq` delivered so far (0 before the first).
    pub fn last(&self) -> u64 {
        self.last
    }
}

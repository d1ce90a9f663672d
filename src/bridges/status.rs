//! What each configured bridge is doing, as the `bridges` query and `/metrics` show it:
//! its connection state and last error (this replica's view), its lag over every
//! practice (from the database), and its publishes and failures.

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::sync::{Arc, Mutex};

use super::settings::PayloadMode;
use super::store::Lag;
use crate::vocab::{Bridge, BridgeKind, BridgeState, EventType};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BridgeLabel {
    pub bridge: BridgeKind,
}

/// The bridges' instruments, labelled by bridge (a closed set: nats, amqp, mqtt).
#[derive(Debug)]
pub struct BridgeMetrics {
    /// Events behind the log heads, over every practice.
    pub lag: Family<BridgeLabel, Gauge>,
    /// Messages the broker acknowledged.
    pub publishes: Family<BridgeLabel, Counter>,
    /// Publishes or connects that failed (each is retried).
    pub failures: Family<BridgeLabel, Counter>,
    /// 1 while this replica's connection to the broker is up.
    pub up: Family<BridgeLabel, Gauge>,
    /// Practices this replica publishes (holds the lease of).
    pub practices: Family<BridgeLabel, Gauge>,
    /// From an event's append to its broker ack, in seconds.
    pub ack_latency: Family<BridgeLabel, Histogram>,
}

impl Default for BridgeMetrics {
    fn default() -> Self {
        Self {
            lag: Family::default(),
            publishes: Family::default(),
            failures: Family::default(),
            up: Family::default(),
            practices: Family::default(),
            // 1 ms … ~2.2 s, ×1.5 per bucket: fine enough to read a p99 against 100 ms.
            ack_latency: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 1.5, 20))),
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: BridgeState,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
    lag: Lag,
    held: usize,
}

/// One configured bridge's live status.
#[derive(Debug)]
pub struct BridgeStatus {
    pub kind: BridgeKind,
    /// Where it publishes, without secrets: `nats://h:4222 stream CLINICSTREAM`.
    pub destination: String,
    pub types: Option<Vec<EventType>>,
    pub payload: PayloadMode,
    pub metrics: Arc<BridgeMetrics>,
    inner: Mutex<Inner>,
}

impl BridgeStatus {
    pub fn new(
        kind: BridgeKind,
        destination: String,
        types: Option<Vec<EventType>>,
        payload: PayloadMode,
        metrics: Arc<BridgeMetrics>,
    ) -> Self {
        let inner = Inner {
            state: BridgeState::Connecting,
            last_error: None,
            last_error_at: None,
            lag: Lag::default(),
            held: 0,
        };
        Self { kind, destination, types, payload, metrics, inner: Mutex::new(inner) }
    }

    fn label(&self) -> BridgeLabel {
        BridgeLabel { bridge: self.kind }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn connected(&self) {
        self.inner().state = BridgeState::Connected;
        self.metrics.up.get_or_create(&self.label()).set(1);
    }

    /// Records a failure: the state turns FAILING and the error is kept for the query.
    pub fn failed(&self, error: &str) {
        let mut inner = self.inner();
        inner.state = BridgeState::Failing;
        inner.last_error = Some(error.to_string());
        inner.last_error_at = Some(Utc::now());
        self.metrics.up.get_or_create(&self.label()).set(0);
        self.metrics.failures.get_or_create(&self.label()).inc();
    }

    pub fn is_connected(&self) -> bool {
        self.inner().state == BridgeState::Connected
    }

    /// Counts acknowledged messages and their append → ack latencies.
    pub fn acked(&self, latencies_ms: impl Iterator<Item = i64>) {
        let label = self.label();
        let histogram = self.metrics.ack_latency.get_or_create(&label);
        let mut n = 0;
        for ms in latencies_ms {
            histogram.observe(ms.max(0) as f64 / 1000.0);
            n += 1;
        }
        self.metrics.publishes.get_or_create(&label).inc_by(n);
    }

    pub fn set_lag(&self, lag: Lag) {
        self.metrics.lag.get_or_create(&self.label()).set(lag.events);
        self.inner().lag = lag;
    }

    pub fn set_held(&self, held: usize) {
        self.metrics.practices.get_or_create(&self.label()).set(held as i64);
        self.inner().held = held;
    }

    /// The bridge as the `bridges` query shows it.
    pub fn view(&self) -> Bridge {
        let label = self.label();
        let inner = self.inner();
        Bridge {
            kind: self.kind,
            destination: self.destination.clone(),
            event_types: self.types.clone().unwrap_or_default(),
            thin_payload: self.payload == PayloadMode::Thin,
            state: inner.state,
            lag: inner.lag.events,
            practices_behind: inner.lag.practices,
            practices_held: inner.held as i64,
            published: self.metrics.publishes.get_or_create(&label).get() as i64,
            failures: self.metrics.failures.get_or_create(&label).get() as i64,
            last_error: inner.last_error.clone(),
            last_error_at: inner.last_error_at,
        }
    }
}

/// Every configured bridge of this replica; empty when none is.
#[derive(Clone, Default)]
pub struct Bridges {
    pub all: Vec<Arc<BridgeStatus>>,
    pub metrics: Arc<BridgeMetrics>,
}

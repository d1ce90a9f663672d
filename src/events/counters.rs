//! The event machinery's instruments: what was appended, published and delivered, how
//! late, and every repair (gap fills, catch-ups, relay republishes, Redis reconnects).
//! Registered for `/metrics` by `crate::metrics`; tests read them directly.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// Which stream an event reached its subscriber on (the streaming doors only; every door
/// an operation can come through is `vocab::Transport`). A closed set: labels never carry
/// tenant ids, whose number is unbounded. Multipart's label is `http`, as it always was.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum StreamTransport {
    Websocket,
    Sse,
    Multipart,
    /// `GET /practices/<id>/events?wait=`: a request held until an event arrives.
    LongPolling,
    Grpc,
}

impl StreamTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamTransport::Websocket => "websocket",
            StreamTransport::Sse => "sse",
            StreamTransport::Multipart => "http",
            StreamTransport::LongPolling => "long_polling",
            StreamTransport::Grpc => "grpc",
        }
    }
}

impl EncodeLabelValue for StreamTransport {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        encoder.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabel {
    pub transport: StreamTransport,
}

impl TransportLabel {
    pub fn of(transport: StreamTransport) -> Self {
        Self { transport }
    }
}

/// How a webhook attempt ended: delivered (2xx), refused by the receiver (another
/// status), or failed before an answer (network, timeout, SSRF guard).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum AttemptOutcome {
    delivered,
    http_error,
    transport_error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: AttemptOutcome,
}

/// A Redis Cluster shard, named by its (first) slot range, like `0-5460`: a set as small as
/// the cluster, and stable across a failover (the new master serves the same slots).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShardLabel {
    pub shard: String,
}

#[derive(Debug)]
pub struct Counters {
    /// Events written to the log.
    pub appended: Counter,
    /// Events handed to the bus after commit (by the mutation or by the relay).
    pub published: Counter,
    /// Events handed to a subscriber's transport.
    pub delivered: Family<TransportLabel, Counter>,
    /// From an event's append to its hand-over to a subscriber's transport, in seconds.
    pub delivery_latency: Histogram,
    /// Subscriptions currently open.
    pub subscriptions: Family<TransportLabel, Gauge>,
    /// Distinct subscription operations the hubs run (each shared by its subscribers).
    pub shared_operations: Gauge,
    /// The executions rendering them: one per operation, but one for all of a practice's
    /// patients' operations of the same document.
    pub shared_renderers: Gauge,
    /// Connections closed because their client stopped reading (websockets: 1013).
    pub slow_consumers: Counter,
    /// Executions of a shared operation: one per event and operation, whatever the
    /// number of subscribers.
    pub shared_executions: Counter,
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
    /// Redis Cluster: 1 while this replica's pub/sub connection to the shard is up.
    pub shard_connected: Family<ShardLabel, Gauge>,
    /// Redis Cluster: practice channels resubscribed on the shard after a connection
    /// loss, a failover, a MOVED or a resharding (each followed by a resync from the log).
    pub shard_resubscribes: Family<ShardLabel, Counter>,
    /// Webhook delivery attempts by outcome.
    pub webhook_attempts: Family<OutcomeLabel, Counter>,
    /// Transactions the practices' writers committed (group commit).
    pub write_batches: Counter,
    /// Mutations committed in those batches (kept turns).
    pub batched_writes: Counter,
    /// Mutations waiting for their turn in a practice's writer.
    pub write_queue: Gauge,
    /// Distinct live queries the hubs hold (each shared by its subscribers).
    pub live_queries: Gauge,
    /// Re-executions of live queries: at most one per change and distinct query.
    pub live_executions: Counter,
    /// Live results sent because their bytes changed (once per query, not per subscriber).
    pub live_results: Counter,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            appended: Counter::default(),
            published: Counter::default(),
            delivered: Family::default(),
            // 0.25 ms … ~4 s
            delivery_latency: Histogram::new(exponential_buckets(0.00025, 2.0, 15)),
            subscriptions: Family::default(),
            shared_operations: Gauge::default(),
            shared_renderers: Gauge::default(),
            shared_executions: Counter::default(),
            slow_consumers: Counter::default(),
            gap_fills: Counter::default(),
            lag_catch_ups: Counter::default(),
            republished: Counter::default(),
            redis_reconnects: Counter::default(),
            publish_failures: Counter::default(),
            shard_connected: Family::default(),
            shard_resubscribes: Family::default(),
            webhook_attempts: Family::default(),
            write_batches: Counter::default(),
            batched_writes: Counter::default(),
            write_queue: Gauge::default(),
            live_queries: Gauge::default(),
            live_executions: Counter::default(),
            live_results: Counter::default(),
        }
    }
}

/// Holds one unit of a gauge: +1 now, −1 when dropped (a connection, a subscription).
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    pub fn hold(gauge: Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

//! The app's Prometheus instruments and the one registry over them per app (no global
//! recorder, so tests that boot several apps in one process each read their own);
//! `http::metrics` serves it as `/metrics`.
//!
//! Label rule: labels come from closed sets only (transport, operation type, outcome).
//! Practice ids, keys and paths with ids never become labels: their number is unbounded
//! (the one exception is opt-in: `METRICS_PER_PRACTICE`, in `usage::PerPractice`).

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::bridges::BridgeMetrics;
use crate::events::{Counters, TransportLabel};

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum OperationType {
    query,
    mutation,
    subscription,
    /// Requests that never got as far as an operation (malformed, refused).
    invalid,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabel {
    pub operation: OperationType,
}

/// Instruments of the HTTP edge.
#[derive(Debug)]
pub struct HttpMetrics {
    /// Open connections by transport (websockets; SSE streams).
    pub connections: Family<TransportLabel, Gauge>,
    /// GraphQL-over-HTTP request durations by operation type, in seconds.
    pub request_duration: Family<OperationLabel, Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            connections: Family::default(),
            request_duration: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 14))),
        }
    }
}

/// A registry over the app's instruments (they are shared handles: registering clones).
pub fn registry(counters: &Counters, http: &HttpMetrics, bridges: &BridgeMetrics) -> Registry {
    let mut registry = Registry::with_prefix("clinicstream");
    registry.register("connections", "Open connections by transport", http.connections.clone());
    registry.register("subscriptions", "Open subscriptions by transport", counters.subscriptions.clone());
    registry.register(
        "shared_operations",
        "Distinct subscription operations run once per event for all their subscribers",
        counters.shared_operations.clone(),
    );
    registry.register(
        "shared_renderers",
        "Executions rendering the shared operations' results (a practice's patients share one per document)",
        counters.shared_renderers.clone(),
    );
    registry.register(
        "slow_consumers",
        "Connections closed because their client stopped reading",
        counters.slow_consumers.clone(),
    );
    registry.register(
        "shared_executions",
        "Executions of shared subscription operations (one per event and operation)",
        counters.shared_executions.clone(),
    );
    registry.register(
        "live_queries",
        "Distinct live queries held, each shared by its subscribers",
        counters.live_queries.clone(),
    );
    registry.register(
        "live_executions",
        "Re-executions of live queries (at most one per change and distinct query)",
        counters.live_executions.clone(),
    );
    registry.register(
        "live_results",
        "Live query results whose bytes changed and were sent (once per query)",
        counters.live_results.clone(),
    );
    registry.register("events_appended", "Events appended to the log", counters.appended.clone());
    registry.register("events_published", "Events handed to the bus after commit", counters.published.clone());
    registry.register("events_delivered", "Events handed to a subscriber's transport", counters.delivered.clone());
    registry.register(
        "event_delivery_latency_seconds",
        "From an event's append to its hand-over to a subscriber's transport",
        counters.delivery_latency.clone(),
    );
    registry.register("gap_fills", "Log reads after a seq jump or a bus resync", counters.gap_fills.clone());
    registry.register(
        "slow_consumer_catch_ups",
        "Subscribers that lagged and caught up from the log",
        counters.lag_catch_ups.clone(),
    );
    registry.register("relay_republished", "Events published by the outbox relay", counters.republished.clone());
    registry.register("redis_reconnects", "Redis pub/sub reconnections", counters.redis_reconnects.clone());
    registry.register(
        "publish_failures",
        "Publishes Redis did not take (the relay retries)",
        counters.publish_failures.clone(),
    );
    registry.register(
        "redis_shard_connected",
        "1 while the pub/sub connection to the Redis Cluster shard is up",
        counters.shard_connected.clone(),
    );
    registry.register(
        "redis_shard_resubscribes",
        "Channels resubscribed on a Redis Cluster shard after a failover, MOVED or lost connection",
        counters.shard_resubscribes.clone(),
    );
    registry.register(
        "write_batches",
        "Transactions committed by the practices' writers",
        counters.write_batches.clone(),
    );
    registry.register("batched_writes", "Mutations committed in the writers' batches", counters.batched_writes.clone());
    registry.register(
        "write_queue",
        "Mutations waiting for their turn in a practice's writer",
        counters.write_queue.clone(),
    );
    registry.register("webhook_attempts", "Webhook delivery attempts by outcome", counters.webhook_attempts.clone());
    registry.register(
        "graphql_request_duration_seconds",
        "GraphQL over HTTP request durations by operation type",
        http.request_duration.clone(),
    );
    registry.register(
        "bridge_lag_events",
        "Events behind the log heads, per bridge, over every practice",
        bridges.lag.clone(),
    );
    registry.register("bridge_publishes", "Messages the broker acknowledged, per bridge", bridges.publishes.clone());
    registry.register(
        "bridge_failures",
        "Failed bridge connects and publishes (retried), per bridge",
        bridges.failures.clone(),
    );
    registry.register(
        "bridge_up",
        "1 while this replica's connection to the bridge's broker is up",
        bridges.up.clone(),
    );
    registry.register("bridge_practices", "Practices this replica publishes, per bridge", bridges.practices.clone());
    registry.register(
        "bridge_ack_latency_seconds",
        "From an event's append to its broker ack, per bridge",
        bridges.ack_latency.clone(),
    );
    registry
}

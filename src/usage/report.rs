//! What `usage(practiceId, from, to)` answers: totals over the range and one bucket per
//! hour that has usage.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use crate::vocab::{EventType, Transport};

/// The longest range one `usage` query may cover.
pub const MAX_RANGE_DAYS: i64 = 366;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportCount {
    pub transport: Transport,
    pub count: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventTypeCount {
    pub event_type: EventType,
    pub count: i64,
}

/// One UTC hour of a practice's (or key's) usage.
#[derive(Clone, Debug, Default)]
pub struct Bucket {
    /// The start of the UTC hour.
    pub hour: DateTime<Utc>,
    pub operations: i64,
    pub queries: i64,
    pub mutations: i64,
    /// Subscription starts, live queries included.
    pub subscriptions: i64,
    pub deliveries: i64,
    pub deliveries_by_transport: Vec<TransportCount>,
    /// The most connections open at once in the hour: the sum of each replica's peak.
    pub peak_connections: i64,
    pub peak_subscriptions: i64,
}

/// A practice's usage over a range, exact up to the last flush (`USAGE_FLUSH_MS`).
#[derive(Clone, Debug)]
pub struct Report {
    pub practice_id: String,
    /// The key the figures are confined to, if one was asked for.
    pub api_key_id: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub operations: i64,
    pub queries: i64,
    pub mutations: i64,
    pub subscriptions: i64,
    pub deliveries: i64,
    pub deliveries_by_transport: Vec<TransportCount>,
    pub deliveries_by_event_type: Vec<EventTypeCount>,
    /// The highest hourly peak in the range (see `UsageBucket.peakConnections`).
    pub peak_connections: i64,
    pub peak_subscriptions: i64,
    /// One per hour that has usage, oldest first.
    pub buckets: Vec<Bucket>,
}

/// Folds stored rows into a report: `counts` are (hour, metric, n), `peaks` (hour,
/// gauge, n) already summed over replicas.
pub(super) fn fold(mut report: Report, counts: Vec<(i64, String, i64)>, peaks: Vec<(i64, String, i64)>) -> Report {
    #[derive(Default)]
    struct Hour {
        bucket: Bucket,
        transports: BTreeMap<&'static str, (Transport, i64)>,
    }
    let mut hours: BTreeMap<i64, Hour> = BTreeMap::new();
    let mut transports: BTreeMap<&'static str, (Transport, i64)> = BTreeMap::new();
    let mut events: BTreeMap<&'static str, (EventType, i64)> = BTreeMap::new();
    for (hour, metric, n) in counts {
        let h = hours.entry(hour).or_default();
        let (kind, name) = metric.split_once(':').unwrap_or((&metric, ""));
        match (kind, name) {
            ("op", "QUERY") => h.bucket.queries += n,
            ("op", "MUTATION") => h.bucket.mutations += n,
            ("op", "SUBSCRIPTION") => h.bucket.subscriptions += n,
            ("delivery", t) => {
                if let Some(t) = Transport::parse(t) {
                    h.bucket.deliveries += n;
                    h.transports.entry(t.as_str()).or_insert((t, 0)).1 += n;
                    transports.entry(t.as_str()).or_insert((t, 0)).1 += n;
                }
            }
            ("event", e) => {
                if let Some(e) = EventType::parse(e) {
                    events.entry(e.as_str()).or_insert((e, 0)).1 += n;
                }
            }
            _ => {}
        }
    }
    for (hour, gauge, n) in peaks {
        let h = hours.entry(hour).or_default();
        match gauge.as_str() {
            "connections" => h.bucket.peak_connections = h.bucket.peak_connections.max(n),
            "subscriptions" => h.bucket.peak_subscriptions = h.bucket.peak_subscriptions.max(n),
            _ => {}
        }
    }
    for (hour, mut h) in hours {
        let b = &mut h.bucket;
        b.hour = DateTime::from_timestamp_millis(hour).unwrap_or_default();
        b.operations = b.queries + b.mutations + b.subscriptions;
        b.deliveries_by_transport =
            h.transports.into_values().map(|(transport, count)| TransportCount { transport, count }).collect();
        report.queries += b.queries;
        report.mutations += b.mutations;
        report.subscriptions += b.subscriptions;
        report.deliveries += b.deliveries;
        report.peak_connections = report.peak_connections.max(b.peak_connections);
        report.peak_subscriptions = report.peak_subscriptions.max(b.peak_subscriptions);
        report.buckets.push(h.bucket);
    }
    report.operations = report.queries + report.mutations + report.subscriptions;
    report.deliveries_by_transport =
        transports.into_values().map(|(transport, count)| TransportCount { transport, count }).collect();
    report.deliveries_by_event_type =
        events.into_values().map(|(event_type, count)| EventTypeCount { event_type, count }).collect();
    report
}

impl Report {
    pub(super) fn empty(practice_id: &str, api_key_id: Option<&str>, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self {
            practice_id: practice_id.to_string(),
            api_key_id: api_key_id.map(str::to_string),
            from,
            to,
            operations: 0,
            queries: 0,
            mutations: 0,
            subscriptions: 0,
            deliveries: 0,
            deliveries_by_transport: Vec::new(),
            deliveries_by_event_type: Vec::new(),
            peak_connections: 0,
            peak_subscriptions: 0,
            buckets: Vec::new(),
        }
    }
}

//! `Bridge` as the `bridges` query shows it: resolvers over `vocab::Bridge`.

use async_graphql::Object;
use chrono::{DateTime, Utc};

use super::{Bridge, BridgeKind, BridgeState, EventType};

#[Object(name = "Bridge")]
impl Bridge {
    async fn kind(&self) -> BridgeKind {
        self.kind.into()
    }
    /// The broker and the stream, exchange or topic prefix, without secrets.
    async fn destination(&self) -> &str {
        &self.destination
    }
    /// The event types it sends; empty means every type.
    async fn event_types(&self) -> Vec<EventType> {
        self.event_types.iter().map(|&t| t.into()).collect()
    }
    /// Whether `data` carries ids and types only (`BRIDGE_PAYLOAD=thin`).
    async fn thin_payload(&self) -> bool {
        self.thin_payload
    }
    async fn state(&self) -> BridgeState {
        self.state.into()
    }
    /// Events appended but not yet acknowledged by the broker, over every practice.
    async fn lag(&self) -> i64 {
        self.lag
    }
    /// Practices with events not yet acknowledged.
    async fn practices_behind(&self) -> i64 {
        self.practices_behind
    }
    /// Practices this replica publishes now (one replica per practice and bridge).
    async fn practices_held(&self) -> i64 {
        self.practices_held
    }
    /// Messages the broker acknowledged, on this replica since it started.
    async fn published(&self) -> i64 {
        self.published
    }
    /// Failed connects and publishes, on this replica since it started.
    async fn failures(&self) -> i64 {
        self.failures
    }
    async fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
    async fn last_error_at(&self) -> Option<DateTime<Utc>> {
        self.last_error_at
    }
}

//! `usage` and `auditLog`'s answers as the schema shows them: resolvers over the reports
//! of `crate::usage` and the entries of `crate::audit`.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use super::{AuditAction, EventType, Role, Transport};
use crate::audit::AuditEntry;
use crate::usage::{Bucket, EventTypeCount, Report, TransportCount};

#[Object(name = "TransportCount")]
impl TransportCount {
    async fn transport(&self) -> Transport {
        self.transport.into()
    }
    async fn count(&self) -> i64 {
        self.count
    }
}

#[Object(name = "EventTypeCount")]
impl EventTypeCount {
    async fn event_type(&self) -> EventType {
        self.event_type.into()
    }
    async fn count(&self) -> i64 {
        self.count
    }
}

/// One UTC hour of a practice's (or key's) usage.
#[Object(name = "UsageBucket")]
impl Bucket {
    /// The start of the UTC hour.
    async fn hour(&self) -> DateTime<Utc> {
        self.hour
    }
    async fn operations(&self) -> i64 {
        self.operations
    }
    async fn queries(&self) -> i64 {
        self.queries
    }
    async fn mutations(&self) -> i64 {
        self.mutations
    }
    /// Subscription starts, live queries included.
    async fn subscriptions(&self) -> i64 {
        self.subscriptions
    }
    async fn deliveries(&self) -> i64 {
        self.deliveries
    }
    async fn deliveries_by_transport(&self) -> &[TransportCount] {
        &self.deliveries_by_transport
    }
    /// The most connections open at once in the hour: the sum of each replica's peak.
    async fn peak_connections(&self) -> i64 {
        self.peak_connections
    }
    async fn peak_subscriptions(&self) -> i64 {
        self.peak_subscriptions
    }
}

/// A practice's usage over a range, exact up to the last flush (`USAGE_FLUSH_MS`).
#[Object(name = "Usage")]
impl Report {
    async fn practice_id(&self) -> ID {
        ID(self.practice_id.clone())
    }
    /// The key the figures are confined to, if one was asked for.
    async fn api_key_id(&self) -> Option<ID> {
        self.api_key_id.clone().map(ID)
    }
    async fn from(&self) -> DateTime<Utc> {
        self.from
    }
    async fn to(&self) -> DateTime<Utc> {
        self.to
    }
    async fn operations(&self) -> i64 {
        self.operations
    }
    async fn queries(&self) -> i64 {
        self.queries
    }
    async fn mutations(&self) -> i64 {
        self.mutations
    }
    async fn subscriptions(&self) -> i64 {
        self.subscriptions
    }
    async fn deliveries(&self) -> i64 {
        self.deliveries
    }
    async fn deliveries_by_transport(&self) -> &[TransportCount] {
        &self.deliveries_by_transport
    }
    async fn deliveries_by_event_type(&self) -> &[EventTypeCount] {
        &self.deliveries_by_event_type
    }
    /// The highest hourly peak in the range (see `UsageBucket.peakConnections`).
    async fn peak_connections(&self) -> i64 {
        self.peak_connections
    }
    async fn peak_subscriptions(&self) -> i64 {
        self.peak_subscriptions
    }
    /// One per hour that has usage, oldest first.
    async fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }
}

/// One recorded access, as `auditLog` returns it.
#[Object(name = "AuditEntry")]
impl AuditEntry {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn at(&self) -> DateTime<Utc> {
        self.at
    }
    /// The API key that acted; null for a person (and for the bootstrap `ADMIN_KEY`).
    async fn api_key_id(&self) -> Option<ID> {
        self.api_key_id.clone().map(ID)
    }
    /// The person who acted: their access token's `sub` at the identity provider; null
    /// for API keys. `auditLog(subject:)` returns one person's rows (compared exactly).
    async fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    /// The person's display name as their token gave it (`name`, else
    /// `preferred_username`, else `email`), as it was when they acted; null for API keys
    /// and for tokens without one.
    async fn actor_name(&self) -> Option<&str> {
        self.actor_name.as_deref()
    }
    async fn role(&self) -> Role {
        self.role.into()
    }
    async fn operation_name(&self) -> Option<&str> {
        self.operation_name.as_deref()
    }
    async fn transport(&self) -> Transport {
        self.transport.into()
    }
    async fn action(&self) -> AuditAction {
        self.action.into()
    }
    async fn patient_ids(&self) -> Vec<ID> {
        self.patient_ids.iter().cloned().map(ID).collect()
    }
    /// A subscription's or live query's field and arguments (SUBSCRIBE, UNSUBSCRIBE,
    /// DELIVER rows).
    async fn filter(&self) -> Option<&str> {
        self.filter.as_deref()
    }
    /// For DELIVER rows: how many events were delivered for these patients in the batch.
    async fn deliveries(&self) -> Option<i64> {
        self.deliveries
    }
}

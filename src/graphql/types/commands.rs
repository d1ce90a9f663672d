//! `CommandConsumer` as the `commandConsumers` query shows it: resolvers over
//! `vocab::CommandConsumer`.

use async_graphql::Object;
use chrono::{DateTime, Utc};

use super::{BridgeKind, BridgeState};
use crate::vocab::CommandConsumer;

#[Object(name = "CommandConsumer")]
impl CommandConsumer {
    /// The broker commands come from (NATS JetStream or RabbitMQ).
    async fn broker(&self) -> BridgeKind {
        self.broker.into()
    }
    /// The broker and the subject or queue, without secrets.
    async fn source(&self) -> &str {
        &self.source
    }
    async fn state(&self) -> BridgeState {
        self.state.into()
    }
    /// Commands applied, on this replica since it started.
    async fn applied(&self) -> i64 {
        self.applied
    }
    /// Redeliveries answered with their first result, nothing applied again.
    async fn replayed(&self) -> i64 {
        self.replayed
    }
    /// Messages sent to the dead letter.
    async fn dead_lettered(&self) -> i64 {
        self.dead_lettered
    }
    /// Deliveries left for a redelivery (a rate limit, a quota, the database, the key).
    async fn retried(&self) -> i64 {
        self.retried
    }
    async fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
    async fn last_error_at(&self) -> Option<DateTime<Utc>> {
        self.last_error_at
    }
}

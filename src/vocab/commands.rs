//! The command consumers as the `commandConsumers` query shows them (ADMIN keys).

use chrono::{DateTime, Utc};

use super::{BridgeKind, BridgeState};

#[derive(Clone, Debug)]
pub struct CommandConsumer {
    /// The broker commands come from.
    pub broker: BridgeKind,
    /// The broker and the subject or queue, without secrets.
    pub source: String,
    pub state: BridgeState,
    /// Commands applied, on this replica since it started.
    pub applied: i64,
    /// Redeliveries answered with their first result.
    pub replayed: i64,
    /// Messages sent to the dead letter.
    pub dead_lettered: i64,
    /// Deliveries left for a redelivery (a rate limit, a quota, the database, the key).
    pub retried: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

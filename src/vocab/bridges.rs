//! The bridges as the `bridges` query shows them (ADMIN keys).

use chrono::{DateTime, Utc};
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

use super::EventType;

/// Which broker a bridge feeds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BridgeKind {
    /// NATS JetStream.
    Nats,
    /// RabbitMQ (AMQP 0-9-1).
    Amqp,
    Mqtt,
    /// Kafka (one transactional producer per practice).
    Kafka,
}

impl BridgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BridgeKind::Nats => "nats",
            BridgeKind::Amqp => "amqp",
            BridgeKind::Mqtt => "mqtt",
            BridgeKind::Kafka => "kafka",
        }
    }
}

impl EncodeLabelValue for BridgeKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        encoder.write_str(self.as_str())
    }
}

/// This replica's connection to the bridge's broker.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BridgeState {
    /// Not connected yet.
    Connecting,
    Connected,
    /// The last connect or publish failed; retrying with backoff (see `lastError`).
    Failing,
}

#[derive(Clone, Debug)]
pub struct Bridge {
    pub kind: BridgeKind,
    /// The broker and the stream, exchange or topic prefix, without secrets.
    pub destination: String,
    /// The event types it sends; empty means every type.
    pub event_types: Vec<EventType>,
    /// Whether `data` carries ids and types only (`BRIDGE_PAYLOAD=thin`).
    pub thin_payload: bool,
    pub state: BridgeState,
    /// Events appended but not yet acknowledged by the broker, over every practice.
    pub lag: i64,
    /// Practices with events not yet acknowledged.
    pub practices_behind: i64,
    /// Practices this replica publishes now (one replica per practice and bridge).
    pub practices_held: i64,
    /// Messages the broker acknowledged, on this replica since it started.
    pub published: i64,
    /// Failed connects and publishes, on this replica since it started.
    pub failures: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

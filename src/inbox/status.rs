//! One command consumer's state as this replica sees it: connected or failing, with the
//! last error — the `commandConsumers` query's line and `clinicstream_commands_up`.

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::sync::{Arc, Mutex};

use super::metrics::{Door, DoorLabel, InboxMetrics};
use crate::vocab::{BridgeKind, BridgeState, CommandConsumer};

struct Inner {
    state: BridgeState,
    last_error: Option<(String, DateTime<Utc>)>,
}

pub struct ConsumerStatus {
    door: Door,
    /// The broker and the subject or queue, without secrets.
    source: String,
    metrics: Arc<InboxMetrics>,
    inner: Mutex<Inner>,
}

impl ConsumerStatus {
    pub fn new(door: Door, source: String, metrics: Arc<InboxMetrics>) -> Self {
        metrics.up.get_or_create(&DoorLabel { door }).set(0);
        let inner = Mutex::new(Inner { state: BridgeState::Connecting, last_error: None });
        Self { door, source, metrics, inner }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn connected(&self) {
        self.metrics.up.get_or_create(&DoorLabel { door: self.door }).set(1);
        self.inner().state = BridgeState::Connected;
    }

    pub fn failed(&self, error: &str) {
        self.metrics.up.get_or_create(&DoorLabel { door: self.door }).set(0);
        let mut inner = self.inner();
        inner.state = BridgeState::Failing;
        inner.last_error = Some((error.to_string(), Utc::now()));
    }

    /// The consumer as the `commandConsumers` query shows it.
    pub fn view(&self) -> CommandConsumer {
        let label = DoorLabel { door: self.door };
        let count = |family: &Family<DoorLabel, Counter>| family.get_or_create(&label).get() as i64;
        let inner = self.inner();
        CommandConsumer {
            broker: match self.door {
                Door::nats => BridgeKind::Nats,
                Door::amqp => BridgeKind::Amqp,
                Door::kafka => BridgeKind::Kafka,
            },
            source: self.source.clone(),
            state: inner.state,
            applied: count(&self.metrics.applied),
            replayed: count(&self.metrics.replayed),
            dead_lettered: count(&self.metrics.dead_lettered),
            retried: count(&self.metrics.retried),
            last_error: inner.last_error.as_ref().map(|(e, _)| e.clone()),
            last_error_at: inner.last_error.as_ref().map(|(_, at)| *at),
        }
    }
}

/// Every configured command consumer of this replica; empty when none is.
#[derive(Clone, Default)]
pub struct CommandStatuses {
    pub all: Vec<Arc<ConsumerStatus>>,
}

//! What the command consumers did, per door, for `/metrics` and the status line.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The broker a command came through.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // the label's values, as Prometheus shows them
pub enum Door {
    nats,
    amqp,
    kafka,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Door::nats => "nats",
            Door::amqp => "amqp",
            Door::kafka => "kafka",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DoorLabel {
    pub door: Door,
}

#[derive(Debug, Default)]
pub struct InboxMetrics {
    /// Commands applied (their first delivery that ran).
    pub applied: Family<DoorLabel, Counter>,
    /// Redeliveries answered with the first result, nothing applied again.
    pub replayed: Family<DoorLabel, Counter>,
    /// Messages sent to the dead letter.
    pub dead_lettered: Family<DoorLabel, Counter>,
    /// Deliveries left for later (a rate limit, a quota, the database, the key).
    pub retried: Family<DoorLabel, Counter>,
    /// 1 while this replica's consumer is connected and pulling.
    pub up: Family<DoorLabel, Gauge>,
}

impl InboxMetrics {
    pub fn applied(&self, door: Door) {
        self.applied.get_or_create(&DoorLabel { door }).inc();
    }

    pub fn replayed(&self, door: Door) {
        self.replayed.get_or_create(&DoorLabel { door }).inc();
    }

    pub fn dead_lettered(&self, door: Door) {
        self.dead_lettered.get_or_create(&DoorLabel { door }).inc();
    }

    pub fn retried(&self, door: Door) {
        self.retried.get_or_create(&DoorLabel { door }).inc();
    }

    /// Adds the instruments to the app's registry.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("commands_applied", "Commands from a bus applied, by door", self.applied.clone());
        registry.register(
            "commands_replayed",
            "Redelivered commands answered with their first result, by door",
            self.replayed.clone(),
        );
        registry.register(
            "commands_dead_lettered",
            "Messages sent to a dead letter, by door",
            self.dead_lettered.clone(),
        );
        registry.register(
            "commands_retried",
            "Command deliveries left for a redelivery, by door",
            self.retried.clone(),
        );
        registry.register("commands_up", "1 while this replica's command consumer is connected", self.up.clone());
    }
}

//! Bridges: the practices' logs into NATS JetStream, RabbitMQ and MQTT as
//! CloudEvents, against real brokers — the shared ones for the happy path, brokers of the
//! tests' own for outages — with a consumer on the far side of each that checks validity,
//! order, gaps and duplicates.

pub mod brokers;
pub mod consumers;
mod delivery;
pub mod kafka;
mod outage;
mod quota;
mod replicas;
mod settings;
pub mod support;

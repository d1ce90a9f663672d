//! Bridges: the practices' logs published into brokers — NATS JetStream, RabbitMQ (AMQP
//! 0-9-1), MQTT and Kafka — as CloudEvents 1.0, at least once (Kafka: once on a broker
//! that commits transactions, see `kafka`) and in seq order per practice. A
//! durable cursor per (bridge, practice) advances only over what the broker acknowledged;
//! a lease makes one replica at a time publish a practice to a bridge.

mod amqp;
mod broker;
mod cloudevent;
#[cfg(feature = "kafka")]
mod kafka;
mod kafka_settings;
mod leases;
mod mqtt;
mod nats;
mod publisher;
mod runner;
mod settings;
mod start;
mod status;
mod store;

pub use cloudevent::{CONTENT_TYPE, data_of, sequence};
#[cfg(feature = "kafka")]
pub use kafka::create_topics as create_kafka_topics;
pub use kafka_settings::KafkaArgs;
pub use leases::hold_leases;
pub use runner::backoff;
pub use settings::{BadSetting, BridgeArgs, PayloadMode, redact};
pub use start::Configured;
pub use status::{BridgeMetrics, BridgeStatus, Bridges};
pub use store::CursorStore;

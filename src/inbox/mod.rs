//! Commands in: mutations that arrive on a bus — NATS JetStream, RabbitMQ, Kafka — as CloudEvents
//! whose `data` is a GraphQL request, applied exactly once through the HTTP door's own
//! path, with a CloudEvent reply (or a dead letter) published before the message is acked.
//!
//! `command` reads a message, `core` decides what becomes of it (broker-agnostic: bytes
//! in, what to publish out), `reply` writes the replies and dead letters, `nats`, `amqp`
//! and `kafka` (behind the cargo feature `kafka`) are the consumers.

mod amqp;
mod command;
mod core;
#[cfg(feature = "kafka")]
mod kafka;
mod metrics;
mod nats;
mod reply;
mod settings;
mod start;
mod status;

pub use amqp::AmqpCommands;
pub use command::COMMAND_TYPE;
pub use core::{Execute, Executed, Inbox, Incoming, MAX_ATTEMPTS, Outcome};
pub use metrics::{Door, InboxMetrics};
pub use reply::{DEAD_LETTER_TYPE, RESULT_TYPE};
pub use settings::CommandArgs;
pub use start::Consumers;
pub use status::CommandStatuses;

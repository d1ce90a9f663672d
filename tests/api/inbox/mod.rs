//! Commands in (`src/inbox`): mutations sent as CloudEvents on NATS JetStream and
//! RabbitMQ (the shared brokers, with a stream, subjects, queues and exchanges of each
//! test's own, through the real clients async-nats and lapin) and Kafka (a tansu of the
//! test's own, sent and read with kafka-python): applied once however often they are
//! delivered, in order, poison to the dead letter without blocking the next, and no second
//! apply when a replica is SIGKILLed between commit and ack.

mod amqp;
mod kafka;
mod nats;
mod poison;
mod replicas;
mod support;

//! Commands in (`src/inbox`): mutations sent as CloudEvents on NATS JetStream and
//! RabbitMQ, against the shared brokers with a stream, subjects, queues and exchanges of
//! each test's own, through the real clients (async-nats, lapin): applied once however
//! often they are delivered, in order, poison to the dead letter without blocking the
//! next, and no second apply when a replica is SIGKILLed between commit and ack.

mod amqp;
mod nats;
mod poison;
mod replicas;
mod support;

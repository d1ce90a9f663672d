//! Commands from RabbitMQ: the durable queue `COMMANDS_AMQP_QUEUE`, declared with
//! `x-single-active-consumer` so that one replica at a time consumes it and the order
//! holds, read one message at a time (prefetch 1). Replies go to the durable topic
//! exchange `COMMANDS_REPLY_EXCHANGE` with the command's routing key — or, when the
//! message has a `reply_to`, to that queue through the default exchange; dead letters to
//! the durable queue `COMMANDS_AMQP_DEAD_LETTER`. Publishes wait for their confirm; the
//! command is acked only after it, so a replica that dies before leaves it in the queue.

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::core::{Inbox, Incoming, Outcome};
use super::metrics::Door;
use super::settings::CommandArgs;
use super::status::ConsumerStatus;
use crate::bridges::{CONTENT_TYPE, redact};

/// AMQP delivery mode 2: written to disk in durable queues.
const PERSISTENT: u8 = 2;

pub struct AmqpCommands {
    pub url: String,
    pub queue: String,
    pub api_key: String,
    pub reply_exchange: String,
    pub dead_letter: String,
}

impl AmqpCommands {
    pub fn of(url: &str, args: &CommandArgs) -> Option<Self> {
        Some(Self {
            url: url.to_string(),
            queue: args.amqp_queue.clone()?,
            api_key: args.amqp_api_key.clone()?,
            reply_exchange: args.reply_exchange.clone(),
            dead_letter: args.amqp_dead_letter.clone(),
        })
    }

    /// The queue's arguments; a publisher that declares the queue first must use the same.
    pub fn queue_arguments() -> FieldTable {
        let mut arguments = FieldTable::default();
        arguments.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        arguments
    }

    /// Consumes until `stop`, reconnecting with backoff when the broker goes away.
    pub async fn run(self, inbox: Arc<Inbox>, status: Arc<ConsumerStatus>, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let ended = tokio::select! {
                _ = stop.cancelled() => return,
                ended = self.session(&inbox, &status, &stop) => ended,
            };
            match ended {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(queue = %self.queue, "AMQP command consumer: {error}");
                    status.failed(&error);
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    async fn session(&self, inbox: &Inbox, status: &ConsumerStatus, stop: &CancellationToken) -> Result<(), String> {
        let url = redact(&self.url);
        let connect = Connection::connect(&self.url, ConnectionProperties::default());
        let connection = match tokio::time::timeout(Duration::from_secs(10), connect).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(err)) => return Err(format!("cannot connect to RabbitMQ at {url}: {err}")),
            Err(_) => return Err(format!("cannot connect to RabbitMQ at {url}: timed out after 10s")),
        };
        let result = self.consume(&connection, inbox, status, stop).await;
        let _ = connection.close(200, "stopping".into()).await;
        result
    }

    async fn consume(
        &self,
        connection: &Connection,
        inbox: &Inbox,
        status: &ConsumerStatus,
        stop: &CancellationToken,
    ) -> Result<(), String> {
        let channel = connection.create_channel().await.map_err(|err| format!("cannot open a channel: {err}"))?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(|err| format!("confirm mode: {err}"))?;
        channel.basic_qos(1, BasicQosOptions::default()).await.map_err(|err| format!("prefetch: {err}"))?;
        let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
        channel.queue_declare(self.queue.as_str().into(), durable, Self::queue_arguments()).await.map_err(|err| {
            format!("cannot declare the queue {:?} (durable, single active consumer): {err}", self.queue)
        })?;
        channel
            .queue_declare(self.dead_letter.as_str().into(), durable, FieldTable::default())
            .await
            .map_err(|err| format!("cannot declare the dead-letter queue {:?}: {err}", self.dead_letter))?;
        let exchange = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
        channel
            .exchange_declare(self.reply_exchange.as_str().into(), ExchangeKind::Topic, exchange, FieldTable::default())
            .await
            .map_err(|err| format!("cannot declare the reply exchange {:?}: {err}", self.reply_exchange))?;
        let mut consumer = channel
            .basic_consume(self.queue.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .map_err(|err| format!("cannot consume {:?}: {err}", self.queue))?;
        status.connected();
        tracing::info!(queue = %self.queue, "AMQP command consumer connected");
        // Deliveries of a message so far, by its bytes (RabbitMQ's classic queues only
        // say "redelivered"); forgotten once it is acked.
        let mut attempts: HashMap<u64, u32> = HashMap::new();
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                next = consumer.next() => next,
            };
            let delivery = next.ok_or("the consumer was cancelled")?.map_err(|err| format!("consuming: {err}"))?;
            let mut hasher = DefaultHasher::new();
            delivery.data.hash(&mut hasher);
            let fingerprint = hasher.finish();
            let attempt = if delivery.redelivered { attempts.get(&fingerprint).copied().unwrap_or(1) + 1 } else { 1 };
            let properties = &delivery.properties;
            let incoming = Incoming {
                bytes: &delivery.data,
                content_type: properties.content_type().as_ref().map(|c| c.as_str()),
                reply_to: properties.reply_to().as_ref().map(|r| r.to_string()),
                attempt,
            };
            let (exchange, routing_key, body) = match inbox.handle(Door::amqp, &self.api_key, incoming).await {
                Outcome::Reply { to: Some(queue), body, .. } => (String::new(), queue, body),
                Outcome::Reply { to: None, body, .. } => {
                    (self.reply_exchange.clone(), delivery.routing_key.to_string(), body)
                }
                Outcome::DeadLetter { body } => (String::new(), self.dead_letter.clone(), body),
                Outcome::Retry { .. } => {
                    attempts.insert(fingerprint, attempt);
                    // timing: the broker requeues at once; waiting first spaces the attempts.
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt.min(20)))).await;
                    let requeue = BasicNackOptions { requeue: true, ..BasicNackOptions::default() };
                    delivery.nack(requeue).await.map_err(|err| format!("nack failed: {err}"))?;
                    continue;
                }
            };
            publish(&channel, &exchange, &routing_key, body).await?;
            delivery.ack(BasicAckOptions::default()).await.map_err(|err| format!("ack failed: {err}"))?;
            attempts.remove(&fingerprint);
        }
    }
}

/// Publishes persistently and waits for the broker's confirm.
async fn publish(channel: &Channel, exchange: &str, routing_key: &str, body: Vec<u8>) -> Result<(), String> {
    let properties = BasicProperties::default()
        .with_content_type(CONTENT_TYPE.into())
        .with_delivery_mode(PERSISTENT)
        .with_app_id("clinicstream".into());
    let confirm = channel
        .basic_publish(exchange.into(), routing_key.into(), BasicPublishOptions::default(), &body, properties)
        .await
        .map_err(|err| format!("publishing to {exchange:?}/{routing_key:?}: {err}"))?;
    match tokio::time::timeout(Duration::from_secs(10), confirm).await {
        Ok(Ok(Confirmation::Ack(_))) => Ok(()),
        Ok(Ok(other)) => Err(format!("RabbitMQ did not take the message for {exchange:?}/{routing_key:?}: {other:?}")),
        Ok(Err(err)) => Err(format!("no publisher confirm: {err}")),
        Err(_) => Err("no publisher confirm within 10s".to_string()),
    }
}

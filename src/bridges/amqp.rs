//! The RabbitMQ (AMQP 0-9-1) bridge: a durable topic exchange declared at connect,
//! routing key `<practiceId>.<TYPE>`, persistent messages with `message_id` = the cursor
//! and `content_type` `application/cloudevents+json`, on a channel in confirm mode: a
//! message counts once its publisher confirm (basic.ack) came.

use async_trait::async_trait;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::Mutex;

use super::broker::{Broker, Published};
use super::cloudevent::{CONTENT_TYPE, Outgoing};
use super::settings::redact;

/// AMQP delivery mode 2: the broker writes the message to disk (in durable queues).
const PERSISTENT: u8 = 2;

pub struct Amqp {
    url: String,
    exchange: String,
    window: usize,
    ack_timeout: Duration,
    channel: Mutex<Option<(Connection, Channel)>>,
}

impl Amqp {
    pub fn new(url: String, exchange: String, window: usize, ack_timeout: Duration) -> Self {
        Self { url, exchange, window: window.max(1), ack_timeout, channel: Mutex::new(None) }
    }

    async fn channel(&self) -> Result<Channel, String> {
        let mut held = self.channel.lock().await;
        if let Some((connection, channel)) = held.as_ref() {
            if connection.status().connected() && channel.status().connected() {
                return Ok(channel.clone());
            }
            held.take();
        }
        let url = redact(&self.url);
        let connect = Connection::connect(&self.url, ConnectionProperties::default());
        let connection = match tokio::time::timeout(Duration::from_secs(10), connect).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(err)) => return Err(format!("cannot connect to RabbitMQ at {url}: {err}")),
            Err(_) => return Err(format!("cannot connect to RabbitMQ at {url}: timed out after 10s")),
        };
        let channel =
            connection.create_channel().await.map_err(|err| format!("cannot open a channel on {url}: {err}"))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|err| format!("cannot enable publisher confirms on {url}: {err}"))?;
        let options = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
        if let Err(err) = channel
            .exchange_declare(self.exchange.as_str().into(), ExchangeKind::Topic, options, FieldTable::default())
            .await
        {
            let _ = connection.close(200, "bad exchange".into()).await;
            return Err(format!(
                "RabbitMQ refused to declare the durable topic exchange {:?} on {url}: {err}",
                self.exchange
            ));
        }
        tracing::info!(exchange = %self.exchange, "AMQP bridge connected to {url}");
        *held = Some((connection, channel.clone()));
        Ok(channel)
    }

    async fn forget(&self) {
        if let Some((connection, _)) = self.channel.lock().await.take() {
            let _ = connection.close(200, "reconnecting".into()).await;
        }
    }
}

#[async_trait]
impl Broker for Amqp {
    async fn connect(&self) -> Result<(), String> {
        self.channel().await.map(|_| ())
    }

    async fn publish(&self, messages: &[Outgoing]) -> Published {
        let mut done = Published::default();
        let channel = match self.channel().await {
            Ok(channel) => channel,
            Err(err) => return done.failed(err),
        };
        let mut in_flight = VecDeque::new();
        let mut sent = 0;
        while done.acked() < messages.len() {
            while sent < messages.len() && in_flight.len() < self.window {
                let message = &messages[sent];
                let routing_key = format!("{}.{}", message.practice_id, message.event_type.as_str());
                let properties = BasicProperties::default()
                    .with_message_id(message.id.as_str().into())
                    .with_content_type(CONTENT_TYPE.into())
                    .with_delivery_mode(PERSISTENT)
                    .with_timestamp((message.occurred_at_ms / 1000).max(0) as u64)
                    .with_app_id("clinicstream".into());
                let publish = channel.basic_publish(
                    self.exchange.as_str().into(),
                    routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &message.body,
                    properties,
                );
                match publish.await {
                    Ok(confirm) => in_flight.push_back(confirm),
                    Err(err) => {
                        self.forget().await;
                        return done.failed(format!("publishing to exchange {:?} failed: {err}", self.exchange));
                    }
                }
                sent += 1;
            }
            let Some(confirm) = in_flight.pop_front() else { break };
            let failure = match tokio::time::timeout(self.ack_timeout, confirm).await {
                Ok(Ok(Confirmation::Ack(_))) => {
                    done.ack();
                    continue;
                }
                Ok(Ok(Confirmation::Nack(_))) => "RabbitMQ refused the message (basic.nack)".to_string(),
                Ok(Ok(Confirmation::NotRequested)) => "the channel is not in confirm mode".to_string(),
                Ok(Err(err)) => format!("no publisher confirm: {err}"),
                Err(_) => format!("no publisher confirm within {:?}", self.ack_timeout),
            };
            self.forget().await;
            return done.failed(failure);
        }
        done
    }
}

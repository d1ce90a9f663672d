//! What the command tests share: commands as CloudEvents, and a test's own side of each
//! bus (its stream and subjects on NATS; its queue, exchange and dead-letter queue on
//! RabbitMQ) that sends commands and reads replies and dead letters.

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde_json::{Value, json};
use std::time::Duration;

use crate::bridges::brokers::{SHARED_AMQP, SHARED_NATS, unique};

/// Posts a payment; `$p` the patient, `$a` the amount.
pub const PAY: &str = "mutation($p: ID!, $a: Int!) { postPayment(input: {patientId: $p, amountCents: $a, method: CARD}) { id amountCents } }";

/// How long a reply or dead letter may take.
pub const WITHIN: Duration = Duration::from_secs(20);

/// A command: a CloudEvent of type `clinicstream.command` whose data is the request.
pub fn command(id: &str, query: &str, variables: Value) -> Vec<u8> {
    let event = json!({
        "specversion": "1.0",
        "id": id,
        "source": "/tests/lab",
        "type": "clinicstream.command",
        "datacontenttype": "application/json",
        "data": { "query": query, "variables": variables },
    });
    serde_json::to_vec(&event).unwrap()
}

/// A payment command for `patient`.
pub fn payment(id: &str, patient: &str, cents: i64) -> Vec<u8> {
    command(id, PAY, json!({ "p": patient, "a": cents }))
}

/// The payment events in a practice's log.
pub async fn payments(app: &crate::helpers::TestApp, practice: &str) -> usize {
    app.log(practice).await.iter().filter(|(_, t)| t == "PAYMENT_POSTED").count()
}

/// A metric's value on `/metrics` (0 when absent).
pub async fn metric(app: &crate::helpers::TestApp, line: &str) -> f64 {
    let text = app.http().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(line)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

/// A test's NATS side: commands on `<prefix>.commands.<practice>` in a stream of its own;
/// replies and dead letters read by plain subscriptions made before anything is sent.
pub struct NatsSide {
    pub prefix: String,
    pub stream: String,
    pub durable: String,
    jetstream: async_nats::jetstream::Context,
    replies: async_nats::Subscriber,
    dead: async_nats::Subscriber,
}

impl NatsSide {
    pub async fn new() -> Self {
        let prefix = unique("cstest");
        let stream = unique("CSCMD_");
        let client = async_nats::connect(SHARED_NATS).await.expect("the shared NATS answers");
        let jetstream = async_nats::jetstream::new(client.clone());
        jetstream
            .create_stream(async_nats::jetstream::stream::Config {
                name: stream.clone(),
                subjects: vec![format!("{prefix}.commands.>")],
                ..Default::default()
            })
            .await
            .expect("the test's command stream");
        let replies = client.subscribe(format!("{prefix}.replies")).await.unwrap();
        let dead = client.subscribe(format!("{prefix}.dead-letter")).await.unwrap();
        client.flush().await.unwrap();
        Self { durable: unique("cmd-"), prefix, stream, jetstream, replies, dead }
    }

    /// The app's settings for this side, commands running under `key`.
    pub fn configure(&self, c: &mut clinicstream::Config, key: &str) {
        c.bridges.nats_url = Some(SHARED_NATS.into());
        c.commands.nats_subject = Some(format!("{}.commands.>", self.prefix));
        c.commands.nats_stream = self.stream.clone();
        c.commands.nats_durable = self.durable.clone();
        c.commands.nats_api_key = Some(key.into());
        c.commands.reply_subject = format!("{}.replies", self.prefix);
        c.commands.nats_dead_letter = format!("{}.dead-letter", self.prefix);
        c.commands.nats_ack_wait = Duration::from_secs(2);
    }

    /// The environment of a server process with the same settings.
    pub fn env(&self, key: &str) -> Vec<(&'static str, String)> {
        vec![
            ("BRIDGE_NATS_URL", SHARED_NATS.into()),
            ("COMMANDS_NATS_SUBJECT", format!("{}.commands.>", self.prefix)),
            ("COMMANDS_NATS_STREAM", self.stream.clone()),
            ("COMMANDS_NATS_DURABLE", self.durable.clone()),
            ("COMMANDS_NATS_API_KEY", key.into()),
            ("COMMANDS_REPLY_SUBJECT", format!("{}.replies", self.prefix)),
            ("COMMANDS_NATS_DEAD_LETTER", format!("{}.dead-letter", self.prefix)),
            ("COMMANDS_NATS_ACK_WAIT", "2s".into()),
        ]
    }

    /// Stores `bytes` in the stream on the practice's subject (JetStream acknowledged).
    pub async fn send(&self, practice: &str, bytes: Vec<u8>) {
        let subject = format!("{}.commands.{practice}", self.prefix);
        self.jetstream.publish(subject, bytes.into()).await.unwrap().await.expect("the stream stores the command");
    }

    pub async fn reply(&mut self) -> Value {
        next_json(&mut self.replies, "reply").await
    }

    pub async fn dead_letter(&mut self) -> Value {
        next_json(&mut self.dead, "dead letter").await
    }

    /// A reply that came (or not) within a short look, without waiting long.
    pub async fn no_reply_within(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.replies.next()).await.is_err()
    }

    pub async fn delete(self) {
        let _ = self.jetstream.delete_stream(&self.stream).await;
    }
}

async fn next_json(subscriber: &mut async_nats::Subscriber, what: &str) -> Value {
    let message = tokio::time::timeout(WITHIN, subscriber.next()).await.unwrap_or_else(|_| panic!("no {what} came"));
    serde_json::from_slice(&message.expect("the subscription is open").payload).expect("JSON")
}

/// A test's RabbitMQ side: the command queue (declared as the app declares it), the reply
/// exchange with a queue of the test's bound to it, and the dead-letter queue.
pub struct AmqpSide {
    pub queue: String,
    pub exchange: String,
    pub dead_letter: String,
    pub reply_queue: String,
    connection: Connection,
    channel: Channel,
    replies: lapin::Consumer,
    dead: lapin::Consumer,
}

impl AmqpSide {
    pub async fn new() -> Self {
        let connection = Connection::connect(SHARED_AMQP, ConnectionProperties::default()).await.expect("RabbitMQ");
        let channel = connection.create_channel().await.unwrap();
        let (queue, exchange, dead_letter) =
            (unique("cstest.commands."), unique("cstest.replies."), unique("cstest.dead."));
        let reply_queue = unique("cstest.reply-queue.");
        let durable = QueueDeclareOptions { durable: true, ..Default::default() };
        channel
            .queue_declare(queue.as_str().into(), durable, clinicstream::inbox::AmqpCommands::queue_arguments())
            .await
            .unwrap();
        channel.queue_declare(dead_letter.as_str().into(), durable, FieldTable::default()).await.unwrap();
        let options = ExchangeDeclareOptions { durable: true, ..Default::default() };
        channel
            .exchange_declare(exchange.as_str().into(), ExchangeKind::Topic, options, FieldTable::default())
            .await
            .unwrap();
        channel.queue_declare(reply_queue.as_str().into(), durable, FieldTable::default()).await.unwrap();
        channel
            .queue_bind(
                reply_queue.as_str().into(),
                exchange.as_str().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let consume = |queue: &str| {
            let options = BasicConsumeOptions { no_ack: true, ..Default::default() };
            channel.basic_consume(queue.into(), "".into(), options, FieldTable::default())
        };
        let replies = consume(&reply_queue).await.unwrap();
        let dead = consume(&dead_letter).await.unwrap();
        Self { queue, exchange, dead_letter, reply_queue, connection, channel, replies, dead }
    }

    pub fn configure(&self, c: &mut clinicstream::Config, key: &str) {
        c.bridges.amqp_url = Some(SHARED_AMQP.into());
        c.commands.amqp_queue = Some(self.queue.clone());
        c.commands.amqp_api_key = Some(key.into());
        c.commands.reply_exchange = self.exchange.clone();
        c.commands.amqp_dead_letter = self.dead_letter.clone();
    }

    /// Sends `bytes` to the command queue with `routing_key`-less default routing, a
    /// content type, and optionally a `reply_to`.
    pub async fn send(&self, bytes: &[u8], reply_to: Option<&str>) {
        let mut properties =
            BasicProperties::default().with_content_type("application/cloudevents+json".into()).with_delivery_mode(2);
        if let Some(to) = reply_to {
            properties = properties.with_reply_to(to.into());
        }
        let publish = self.channel.basic_publish(
            "".into(),
            self.queue.as_str().into(),
            BasicPublishOptions::default(),
            bytes,
            properties,
        );
        publish.await.unwrap().await.unwrap();
    }

    pub async fn reply(&mut self) -> Value {
        next_delivery(&mut self.replies, "reply").await
    }

    pub async fn dead_letter(&mut self) -> Value {
        next_delivery(&mut self.dead, "dead letter").await
    }

    pub async fn delete(self) {
        for queue in [&self.queue, &self.dead_letter, &self.reply_queue] {
            let _ = self.channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await;
        }
        let _ = self.channel.exchange_delete(self.exchange.as_str().into(), Default::default()).await;
        let _ = self.connection.close(200, "done".into()).await;
    }
}

async fn next_delivery(consumer: &mut lapin::Consumer, what: &str) -> Value {
    let delivery = tokio::time::timeout(WITHIN, consumer.next()).await.unwrap_or_else(|_| panic!("no {what} came"));
    let delivery = delivery.expect("the consumer is open").expect("a delivery");
    serde_json::from_slice(&delivery.data).expect("JSON")
}

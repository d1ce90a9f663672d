//! Commands from Kafka: a consumer group (`COMMANDS_KAFKA_GROUP`) on `COMMANDS_KAFKA_TOPIC`,
//! on the Kafka bridge's brokers and SASL settings. A new group starts at the earliest
//! offset, so nothing sent while it first joins is lost. The record key is the practice id:
//! one practice's commands share a partition, and each replica handles the records of its
//! partitions one at a time, so a practice's commands apply in the order they were stored.
//!
//! A record's offset is stored for commit only after its reply or dead letter was
//! acknowledged by the broker (an idempotent producer, `acks=all`); stored offsets are
//! committed every 100 ms and when the consumer closes. Replies are pipelined: the next
//! record is applied while earlier replies await their acks (up to `REPLIES_IN_FLIGHT`),
//! and offsets are stored in record order as the acks come, so a record's offset is never
//! stored before an earlier record's reply was acknowledged. A replica that dies before
//! the commit, or loses the partition in a rebalance, leaves the record to the next owner,
//! and the core answers the redelivery with the first result. Kafka counts no deliveries, so a passing failure is retried here, record in
//! hand, until the core gives up on it (`MAX_ATTEMPTS`) and dead-letters it.
//!
//! Replies go to `COMMANDS_REPLY_TOPIC`, keyed like the command, or to the topic the
//! command's `replyto` names — unless that is no topic name, or one of ours (the commands,
//! the dead letter, the bridge's events), or the broker refuses it: then to the reply topic.

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::core::{Inbox, Incoming, Outcome};
use super::metrics::Door;
use super::settings::{CommandArgs, kafka_topic_name};
use super::status::ConsumerStatus;
use crate::bridges::{CONTENT_TYPE, KafkaArgs, create_kafka_topics};

/// How long a reply or dead letter may take to be acknowledged.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Replies and dead letters awaiting their broker ack at once, while the consumer goes on.
const REPLIES_IN_FLIGHT: usize = 64;

/// The longest a fetch waits at the broker for records (librdkafka's default is 500 ms).
const FETCH_WAIT_MS: &str = "20";

/// The most of one partition fetched at once (16 MiB).
const FETCH_BYTES: usize = 16 << 20;

pub struct KafkaCommands {
    pub brokers: String,
    pub client_id: String,
    sasl: Option<(String, String)>,
    /// Partitions of the topics when they are created (`BRIDGE_KAFKA_PARTITIONS`).
    partitions: i32,
    pub topic: String,
    pub group: String,
    pub api_key: String,
    pub reply_topic: String,
    pub dead_letter: String,
    /// Topics a command's `replyto` may not name.
    guarded: Vec<String>,
}

impl KafkaCommands {
    pub fn of(kafka: &KafkaArgs, args: &CommandArgs) -> Option<Self> {
        Some(Self {
            brokers: kafka.brokers.clone()?,
            client_id: kafka.client_id.clone(),
            sasl: kafka.sasl_username.clone().zip(kafka.sasl_password.clone()),
            partitions: kafka.partitions,
            topic: args.kafka_topic.clone()?,
            group: args.kafka_group.clone(),
            api_key: args.kafka_api_key.clone()?,
            reply_topic: args.reply_topic.clone(),
            dead_letter: args.kafka_dead_letter.clone(),
            guarded: vec![args.kafka_topic.clone()?, args.kafka_dead_letter.clone(), kafka.topic.clone()],
        })
    }

    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            .set("socket.connection.setup.timeout.ms", "5000");
        if let Some((user, password)) = &self.sasl {
            config
                .set("security.protocol", "SASL_PLAINTEXT")
                .set("sasl.mechanism", "PLAIN")
                .set("sasl.username", user)
                .set("sasl.password", password);
        }
        config
    }

    /// Consumes until `stop`, starting over with backoff when the session fails.
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
                    tracing::warn!(topic = %self.topic, "Kafka command consumer: {error}");
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
        let brokers = &self.brokers;
        self.create_topics().await?;
        let producer: FutureProducer = self
            .config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "1")
            .set("message.timeout.ms", SEND_TIMEOUT.as_millis().to_string())
            .create()
            .map_err(|err| format!("cannot create a Kafka producer for {brokers}: {err}"))?;
        let consumer: StreamConsumer = self
            .config()
            .set("group.id", &self.group)
            // Only offsets stored by `stored` (answered records) are committed.
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "100")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            // A broker answers a fetch as soon as records arrive; one that waits out the
            // whole wait (tansu 0.6.0) would add it to every command's latency.
            .set("fetch.wait.max.ms", FETCH_WAIT_MS)
            // Room for an oversized record, so it can be read and dead-lettered: Kafka
            // returns a first record past the limit anyway (KIP-74), tansu 0.6.0 does not.
            .set("max.partition.fetch.bytes", FETCH_BYTES.to_string())
            .set("fetch.max.bytes", (2 * FETCH_BYTES).to_string())
            .set("receive.message.max.bytes", (2 * FETCH_BYTES + 1024).to_string())
            .create()
            .map_err(|err| format!("cannot create a Kafka consumer for {brokers}: {err}"))?;
        consumer.subscribe(&[&self.topic]).map_err(|err| format!("cannot subscribe to {:?}: {err}", self.topic))?;
        status.connected();
        tracing::info!(topic = %self.topic, group = %self.group, "Kafka command consumer subscribed at {brokers}");
        // Answers sent and not yet acknowledged, in record order: (partition, offset).
        let mut answering = FuturesOrdered::new();
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                Some(answered) = answering.next(), if !answering.is_empty() => {
                    let (partition, offset) = answered?;
                    self.store(&consumer, partition, offset);
                    continue;
                }
                next = consumer.recv(), if answering.len() < REPLIES_IN_FLIGHT => next,
            };
            let message = match next {
                Ok(message) => message,
                Err(err) => {
                    // librdkafka reconnects by itself; the error is shown until a record comes.
                    let error = format!("consuming {:?}: {err}", self.topic);
                    tracing::warn!("Kafka command consumer: {error}");
                    status.failed(&error);
                    // timing: spaces the reports of a broker that stays away.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            status.connected();
            let (partition, offset) = (message.partition(), message.offset());
            let key = message.key().map(<[u8]>::to_vec);
            let content_type = message
                .headers()
                .and_then(|headers| headers.iter().find(|h| h.key.eq_ignore_ascii_case("content-type")))
                .and_then(|h| h.value)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_string);
            let bytes = message.payload().unwrap_or_default();
            let Some((to, body)) = self.decide(inbox, bytes, content_type.as_deref(), stop).await else {
                return Ok(()); // stopped with the record in hand: its offset is not stored
            };
            let producer = &producer;
            answering.push_back(async move {
                self.send(producer, to, key.as_deref(), body).await.map(|()| (partition, offset))
            });
        }
    }

    /// Stores the offset after `offset` on `partition` for the next commit. A partition
    /// taken away in a rebalance refuses it: its next owner answers the record again.
    fn store(&self, consumer: &StreamConsumer, partition: i32, offset: i64) {
        let mut offsets = TopicPartitionList::new();
        let stored = offsets
            .add_partition_offset(&self.topic, partition, Offset::Offset(offset + 1))
            .and_then(|()| consumer.store_offsets(&offsets));
        if let Err(err) = stored {
            tracing::info!(partition, offset, "could not store a command's offset ({err}); it will be answered again");
        }
    }

    /// Where the record's answer goes and what it is; a passing failure is retried here
    /// (the record stays in hand, so nothing behind it overtakes it). None: stopped.
    async fn decide(
        &self,
        inbox: &Inbox,
        bytes: &[u8],
        content_type: Option<&str>,
        stop: &CancellationToken,
    ) -> Option<(Option<String>, Vec<u8>)> {
        let mut attempt = 1;
        loop {
            let incoming = Incoming { bytes, content_type, reply_to: None, attempt };
            match inbox.handle(Door::kafka, &self.api_key, incoming).await {
                Outcome::Reply { to, body, .. } => return Some((Some(self.reply_topic_for(to)), body)),
                Outcome::DeadLetter { body } => return Some((None, body)),
                Outcome::Retry { .. } => {
                    let delay = Duration::from_millis(500 * u64::from(attempt.min(20)));
                    tokio::select! {
                        _ = stop.cancelled() => return None,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    attempt += 1;
                }
            }
        }
    }

    /// The topic a reply goes to: the command's `replyto` when it may be one.
    fn reply_topic_for(&self, to: Option<String>) -> String {
        match to {
            Some(topic) if kafka_topic_name(&topic) && !self.guarded.contains(&topic) => topic,
            Some(topic) => {
                tracing::info!(replyto = %topic.chars().take(80).collect::<String>(), "a command's replyto is not a topic it may name; replying on {}", self.reply_topic);
                self.reply_topic.clone()
            }
            None => self.reply_topic.clone(),
        }
    }

    /// Sends a reply (`to` Some) or a dead letter and waits for the broker's acknowledgement;
    /// a reply the broker refuses on a `replyto` topic goes to the reply topic instead.
    async fn send(
        &self,
        producer: &FutureProducer,
        to: Option<String>,
        key: Option<&[u8]>,
        body: Vec<u8>,
    ) -> Result<(), String> {
        let topic = to.unwrap_or_else(|| self.dead_letter.clone());
        match produce(producer, &topic, key, &body).await {
            Err(error) if topic != self.reply_topic && topic != self.dead_letter => {
                tracing::info!(topic = %topic, "a reply could not go to the command's replyto ({error}); replying on {}", self.reply_topic);
                produce(producer, &self.reply_topic, key, &body).await
            }
            sent => sent,
        }
    }

    /// Creates the command, reply and dead-letter topics that do not exist yet.
    async fn create_topics(&self) -> Result<(), String> {
        let admin: AdminClient<DefaultClientContext> = self
            .config()
            .create()
            .map_err(|err| format!("cannot create a Kafka client for {}: {err}", self.brokers))?;
        let names = [self.topic.as_str(), self.reply_topic.as_str(), self.dead_letter.as_str()];
        create_kafka_topics(&admin, &names, self.partitions, SEND_TIMEOUT)
            .await
            .map_err(|err| format!("{err} (the command topics, on Kafka at {})", self.brokers))
    }
}

/// Sends one record (CloudEvents structured mode) and waits for its acknowledgement.
async fn produce(producer: &FutureProducer, topic: &str, key: Option<&[u8]>, body: &[u8]) -> Result<(), String> {
    let headers = OwnedHeaders::new().insert(Header { key: "content-type", value: Some(CONTENT_TYPE) });
    let mut record = FutureRecord::to(topic).payload(body).headers(headers);
    if let Some(key) = key {
        record = record.key(key);
    }
    producer.send(record, SEND_TIMEOUT).await.map(|_| ()).map_err(|(err, _)| format!("sending to {topic:?}: {err}"))
}

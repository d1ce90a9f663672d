//! The Kafka broker of the bridge (`super` explains the design): one transactional
//! producer per practice held, one transaction per batch, and a read-back before the
//! first batch and after any failure. On a broker that cannot commit a transaction
//! (tansu 0.6.0 has no EndTxn), one idempotent producer that every practice shares
//! instead: at least once.

use async_trait::async_trait;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer, PurgeConfig};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicU8};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;
use tokio::sync::Mutex;

use super::marks::{self, Mark};
use super::partition::partition_for;
use super::recover::read_back;
use super::versions::NOT_KNOWN;
use crate::bridges::broker::{Broker, Published};
use crate::bridges::cloudevent::{CONTENT_TYPE, Outgoing};
use crate::bridges::kafka_settings::KafkaArgs;
use crate::events::Cursor;

/// How often a moving practice's mark is written (a database round trip).
const MARK_EVERY: Duration = Duration::from_secs(1);

pub struct Kafka {
    pub(super) settings: KafkaArgs,
    pub(super) brokers: String,
    /// The cursor rows' and marks' `bridge`: `kafka/<topic>`.
    bridge: String,
    db: DatabaseConnection,
    pub(super) timeout: Duration,
    /// The topic's partition count as the broker last said (0: not known yet).
    pub(super) partitions: AtomicI32,
    /// Whether the broker commits transactions: asked once, before the first producer
    /// starts (`super::versions`); a commit refused as unsupported also says no. No is
    /// for the life of the process (`Kafka::no_transactions`).
    pub(super) transactions: AtomicU8,
    pub(super) asking: Mutex<()>,
    pub(super) admin: Mutex<Option<Arc<AdminClient<DefaultClientContext>>>>,
    /// Without transactions: the one idempotent producer of every practice, so that the
    /// records of all of them travel in few requests (librdkafka batches per partition
    /// and sends one request per broker).
    shared: Mutex<Option<FutureProducer>>,
    practices: SyncMutex<HashMap<String, Arc<Mutex<Option<Session>>>>>,
}

/// A practice's producer, after its read-back.
struct Session {
    producer: FutureProducer,
    /// One transaction per batch; false: idempotent, each record acknowledged alone.
    transactional: bool,
    partition: i32,
    /// The last seq of the practice in the topic: messages up to it are not sent again.
    through: i64,
    marked_at: tokio::time::Instant,
}

impl Kafka {
    pub fn new(settings: &KafkaArgs, bridge: String, db: DatabaseConnection, timeout: Duration) -> Self {
        Self {
            brokers: settings.brokers.clone().unwrap_or_default(),
            settings: settings.clone(),
            bridge,
            db,
            timeout,
            partitions: AtomicI32::new(0),
            transactions: AtomicU8::new(NOT_KNOWN),
            asking: Mutex::new(()),
            admin: Mutex::new(None),
            shared: Mutex::new(None),
            practices: SyncMutex::new(HashMap::new()),
        }
    }

    /// What every client of the bridge shares: the brokers, client id and SASL.
    pub(super) fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.settings.client_id)
            .set("socket.connection.setup.timeout.ms", "5000");
        if let (Some(user), Some(password)) = (&self.settings.sasl_username, &self.settings.sasl_password) {
            config
                .set("security.protocol", "SASL_PLAINTEXT")
                .set("sasl.mechanism", "PLAIN")
                .set("sasl.username", user)
                .set("sasl.password", password);
        }
        config
    }

    /// The transactional id of a practice: stable, so a takeover fences the old owner.
    fn transactional_id(&self, practice_id: &str) -> String {
        format!("clinicstream.{}.{practice_id}", self.settings.topic)
    }

    fn slot(&self, practice_id: &str) -> Arc<Mutex<Option<Session>>> {
        let mut practices = self.practices.lock().expect("the practices' map");
        practices.entry(practice_id.to_string()).or_default().clone()
    }

    /// An idempotent producer's settings; `linger` lets records of other practices join
    /// the same request.
    fn producer_config(&self, linger: &str) -> ClientConfig {
        let mut config = self.config();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", linger)
            .set("message.timeout.ms", self.timeout.as_millis().max(1000).to_string());
        config
    }

    fn create(&self, config: &ClientConfig) -> Result<FutureProducer, String> {
        config.create().map_err(|err| format!("cannot create a Kafka producer for {}: {err}", self.brokers))
    }

    /// The practice's own transactional producer, started: any other with its id is fenced.
    async fn transactional_producer(&self, practice_id: &str) -> Result<FutureProducer, String> {
        let mut config = self.producer_config("1");
        config.set("transactional.id", self.transactional_id(practice_id)).set("transaction.timeout.ms", "60000");
        let producer = self.create(&config)?;
        let (starting, timeout) = (producer.clone(), self.timeout);
        tokio::task::spawn_blocking(move || starting.init_transactions(timeout))
            .await
            .map_err(|err| err.to_string())?
            .map_err(|err| {
                format!("cannot start the transactional producer {:?}: {err}", self.transactional_id(practice_id))
            })?;
        Ok(producer)
    }

    /// The shared idempotent producer; a new one if it has none or librdkafka found the
    /// one it has in a fatal state.
    async fn shared_producer(&self) -> Result<FutureProducer, String> {
        let mut held = self.shared.lock().await;
        if let Some(producer) = held.as_ref().filter(|p| p.client().fatal_error().is_none()) {
            return Ok(producer.clone());
        }
        let producer = self.create(&self.producer_config("5"))?;
        if let Some(old) = held.replace(producer.clone()) {
            tokio::task::spawn_blocking(move || drop(old));
        }
        Ok(producer)
    }

    /// Starts the practice's producer — transactional, fencing any other with its id,
    /// unless the broker cannot commit — and reads the practice's partition back to its
    /// end (`super::recover`).
    async fn recover(&self, practice_id: &str) -> Result<Session, String> {
        let partitions = self.partitions().await?;
        let partition = partition_for(practice_id, partitions);
        let transactional = self.transactional().await?;
        let producer = match transactional {
            true => self.transactional_producer(practice_id).await?,
            false => self.shared_producer().await?,
        };
        let mark = marks::read(&self.db, &self.bridge, practice_id)
            .await
            .map_err(|err| format!("cannot read the Kafka mark: {err}"))?
            .filter(|mark| mark.partition == partition);
        let (from, base) = mark.map_or((0, 0), |mark| (mark.offset, mark.seq));
        let (read, topic, practice) = (self.config(), self.settings.topic.clone(), practice_id.to_string());
        let within = self.timeout * 3;
        let found = tokio::task::spawn_blocking(move || read_back(read, &topic, partition, from, &practice, within))
            .await
            .map_err(|err| err.to_string())??;
        let through = found.last_seq.unwrap_or(0).max(base);
        tracing::info!(practice = %practice_id, partition, from, to = found.end, through, "read the practice's Kafka partition back");
        let session = Session { producer, transactional, partition, through, marked_at: tokio::time::Instant::now() };
        let mark = Mark { partition, offset: found.end, seq: through };
        if let Err(err) =
            marks::write(&self.db, &self.bridge, practice_id, mark, chrono::Utc::now().timestamp_millis()).await
        {
            tracing::warn!(practice = %practice_id, error = %err, "could not write the Kafka mark");
        }
        Ok(session)
    }

    /// Sends `messages` in one transaction (or, idempotent, each acknowledged alone); the
    /// offset of the last one once committed.
    async fn transaction(&self, session: &Session, messages: &[Outgoing]) -> Result<i64, String> {
        let producer = &session.producer;
        if session.transactional {
            producer.begin_transaction().map_err(|err| format!("cannot begin a Kafka transaction: {err}"))?;
        }
        let headers = OwnedHeaders::new().insert(Header { key: "content-type", value: Some(CONTENT_TYPE) });
        let mut deliveries = Vec::with_capacity(messages.len());
        for message in messages {
            let record = FutureRecord::to(&self.settings.topic)
                .partition(session.partition)
                .key(&message.practice_id)
                .payload(&message.body)
                .headers(headers.clone());
            match producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((err, _)) => return Err(format!("cannot send to Kafka topic {:?}: {err}", self.settings.topic)),
            }
        }
        let delivered = tokio::time::timeout(self.timeout, futures_util::future::join_all(deliveries))
            .await
            .map_err(|_| format!("no Kafka ack within {:?}", self.timeout))?;
        let mut last = -1;
        for delivery in delivered {
            match delivery {
                Ok(Ok(done)) => last = done.offset,
                Ok(Err((err, _))) => return Err(format!("Kafka refused a record: {err}")),
                Err(_) => return Err("the Kafka producer stopped".to_string()),
            }
        }
        if !session.transactional {
            return Ok(last);
        }
        let (committing, timeout) = (producer.clone(), self.timeout);
        tokio::task::spawn_blocking(move || committing.commit_transaction(timeout))
            .await
            .map_err(|err| err.to_string())?
            .map_err(|err| match err {
                KafkaError::Transaction(ref e) if e.code() == RDKafkaErrorCode::ProducerFenced => {
                    format!("another replica took this practice's Kafka producer over: {err}")
                }
                KafkaError::Transaction(ref e) if e.code() == RDKafkaErrorCode::UnsupportedFeature => {
                    self.no_transactions(&err);
                    format!("the Kafka broker cannot commit a transaction: {err}")
                }
                _ => format!("cannot commit the Kafka transaction: {err}"),
            })?;
        Ok(last)
    }
}

fn seq_of(message: &Outgoing) -> i64 {
    Cursor::decode(&message.id).map(|cursor| cursor.seq).unwrap_or(i64::MAX)
}

/// How long a closing producer waits for records still in flight.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

/// Closes a practice's producer off the runtime (librdkafka's flush and destroy block) and
/// waits until it is done, so that the read-back after a failure sees what it wrote. A
/// transactional producer is purged and destroyed: the next producer with its id fences
/// whatever it still had in flight. The shared one carries the other practices' records:
/// this practice only drops its handle, after giving the records in flight `CLOSE_FLUSH`
/// to land. (A request the broker answers later than that can land after the read-back,
/// and its records are sent twice.)
async fn close(session: Option<Session>) {
    if let Some(session) = session {
        let _ = tokio::task::spawn_blocking(move || {
            if session.transactional {
                session.producer.purge(PurgeConfig::default().queue().inflight());
            } else {
                let _ = session.producer.flush(CLOSE_FLUSH);
            }
            drop(session);
        })
        .await;
    }
}

#[async_trait]
impl Broker for Kafka {
    async fn connect(&self) -> Result<(), String> {
        self.open_topic().await
    }

    async fn publish(&self, messages: &[Outgoing]) -> Published {
        let mut done = Published::default();
        let Some(first) = messages.first() else { return done };
        let slot = self.slot(&first.practice_id);
        let mut held = slot.lock().await;
        if held.is_none() {
            match self.recover(&first.practice_id).await {
                Ok(session) => *held = Some(session),
                Err(err) => return done.failed(err),
            }
        }
        let session = held.as_mut().expect("recovered above");
        // Already in the topic (sent before a crash or a failure): acknowledged as they are.
        let skip = messages.iter().take_while(|m| seq_of(m) <= session.through).count();
        (0..skip).for_each(|_| done.ack());
        let rest = &messages[skip..];
        let Some(last) = rest.last() else { return done };
        match self.transaction(session, rest).await {
            Ok(offset) => {
                rest.iter().for_each(|_| done.ack());
                session.through = seq_of(last);
                if session.marked_at.elapsed() >= MARK_EVERY {
                    session.marked_at = tokio::time::Instant::now();
                    let mark = Mark { partition: session.partition, offset: offset + 1, seq: session.through };
                    let now = chrono::Utc::now().timestamp_millis();
                    if let Err(err) = marks::write(&self.db, &self.bridge, &last.practice_id, mark, now).await {
                        tracing::warn!(error = %err, "could not write the Kafka mark");
                    }
                }
                done
            }
            Err(err) => {
                // What the failed transaction left is unknown: start over with a read-back.
                close(held.take()).await;
                done.failed(err)
            }
        }
    }

    async fn release(&self, practice_id: &str) {
        let slot = self.practices.lock().expect("the practices' map").remove(practice_id);
        if let Some(slot) = slot {
            close(slot.lock().await.take()).await;
        }
    }
}

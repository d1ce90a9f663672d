//! Taking a practice over: its transactional producer is started (which fences any
//! producer still holding the same transactional id, aborting its open transaction), then
//! the practice's partition is read back with `isolation.level=read_committed` from its
//! mark to the end, to find the last seq of the practice a `read_committed` consumer sees.
//! The bridge resumes after that seq. Reading back after fencing is what makes the topic
//! itself the cursor: whatever a consumer can see is never sent again, and whatever it
//! cannot (an aborted transaction on a broker that hides aborted records) is sent again.

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

use crate::events::Cursor;

/// The read-back's client context: reaching the end of the partition is the point, not
/// an error to log (librdkafka reports it as one).
struct ReadingBack;

impl ClientContext for ReadingBack {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::warn!(%error, reason, "librdkafka reading a partition back");
        }
    }
}

impl ConsumerContext for ReadingBack {}

/// What a read-back found: the offset it read up to, and the practice's last seq there.
#[derive(Debug)]
pub struct ReadBack {
    pub end: i64,
    pub last_seq: Option<i64>,
}

/// Reads `partition` of `topic` from `from` to its end (blocking; run it off the runtime),
/// keeping the highest seq among the records keyed `practice_id`.
pub fn read_back(
    mut config: ClientConfig,
    topic: &str,
    partition: i32,
    from: i64,
    practice_id: &str,
    within: Duration,
) -> Result<ReadBack, String> {
    config
        .set("group.id", "clinicstream-bridge-read-back")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // tansu holds every fetch for the whole wait, even with records to give: a short
        // wait keeps a read-back of thousands of records within seconds.
        .set("fetch.wait.max.ms", "10");
    let consumer: BaseConsumer<ReadingBack> = config
        .create_with_context(ReadingBack)
        .map_err(|err| format!("cannot create a Kafka consumer to read {topic} back: {err}"))?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Offset(from))
        .map_err(|err| format!("cannot read {topic}[{partition}] from {from}: {err}"))?;
    consumer.assign(&assignment).map_err(|err| format!("cannot read {topic}[{partition}] back: {err}"))?;
    let deadline = Instant::now() + within;
    let mut found = ReadBack { end: from, last_seq: None };
    loop {
        if Instant::now() > deadline {
            return Err(format!(
                "reading {topic}[{partition}] back from offset {from} did not reach its end within {within:?} (at {})",
                found.end
            ));
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(found),
            Some(Err(err)) => return Err(format!("reading {topic}[{partition}] back failed: {err}")),
            Some(Ok(message)) => {
                found.end = found.end.max(message.offset() + 1);
                if message.key() != Some(practice_id.as_bytes()) {
                    continue;
                }
                if let Some(seq) = message.payload().and_then(|body| seq_of(body, practice_id)) {
                    found.last_seq = Some(found.last_seq.map_or(seq, |last| last.max(seq)));
                }
            }
        }
    }
}

/// The seq of one of the bridge's records: its CloudEvent `id` is the event's cursor.
fn seq_of(body: &[u8], practice_id: &str) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let id: Id = serde_json::from_slice(body).ok()?;
    Cursor::decode_for(&id.id, practice_id).ok().map(|cursor| cursor.seq)
}

//! Commands on Kafka, against a tansu broker of the test's own (the bridge tests' support:
//! `bridges::kafka::Tansu`), sent by an independent client (kafka-python, each record
//! acknowledged before the next) and read back as a `read_committed` consumer that checks
//! each reply and dead letter with the CloudEvents SDK. A redelivered command applies once;
//! a hundred commands of two practices apply in the order they were stored; a `replyto`
//! is honoured unless it names one of our topics; poison goes to the dead letter and the
//! next command applies; a refused key is retried in hand five times, then dead-lettered,
//! and the next record is taken. (A replica killed between commit and ack is covered on NATS,
//! `replicas.rs`: the core that answers the redelivery is the same.)

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::poison::{checked, poison};
use super::support::{metric, payment, payments};
use crate::bridges::brokers::unique;
use crate::bridges::kafka::{Record, Tansu, read_topic, reader_ready};
use crate::helpers::{ADMIN_KEY, Backend, fresh_db, spawn_app_on};

/// The first group join on tansu takes 20–25 s; then the commands run.
const WITHIN: Duration = Duration::from_secs(120);

/// A test's Kafka side: its topics (commands, replies, dead letters, the bridge's events).
struct KafkaSide {
    bootstrap: String,
    commands: String,
    replies: String,
    dead_letter: String,
    events: String,
    group: String,
}

impl KafkaSide {
    fn new(tansu: &Tansu) -> Self {
        Self {
            bootstrap: tansu.bootstrap(),
            commands: unique("cstest.commands."),
            replies: unique("cstest.replies."),
            dead_letter: unique("cstest.dead."),
            events: unique("cstest.events."),
            group: unique("cstest-group-"),
        }
    }

    fn configure(&self, c: &mut clinicstream::Config, key: &str) {
        c.bridges.kafka.brokers = Some(self.bootstrap.clone());
        c.bridges.kafka.topic = self.events.clone();
        c.bridges.kafka.partitions = 2;
        c.commands.kafka_topic = Some(self.commands.clone());
        c.commands.kafka_group = self.group.clone();
        c.commands.kafka_api_key = Some(key.into());
        c.commands.reply_topic = self.replies.clone();
        c.commands.kafka_dead_letter = self.dead_letter.clone();
    }

    /// Sends `(practice, bytes)` records to the command topic, keyed by practice, in order;
    /// `create` topics are made first.
    async fn send(&self, records: &[(&str, Vec<u8>)], create: &[&str]) {
        let records: Vec<Value> = records
            .iter()
            .map(|(key, bytes)| {
                json!({
                    "topic": self.commands,
                    "key": key,
                    "value": String::from_utf8(bytes.clone()).expect("UTF-8 test messages"),
                    "headers": { "content-type": "application/cloudevents+json" },
                })
            })
            .collect();
        let job = serde_json::to_vec(&json!({ "create": create, "records": records })).unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/kafka/send.py");
        let mut child = tokio::process::Command::new("python3")
            .arg(script)
            .arg(&self.bootstrap)
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&job).await.unwrap();
        drop(stdin);
        let output = child.wait_with_output().await.unwrap();
        assert!(output.status.success(), "kafka-python could not send: {}", String::from_utf8_lossy(&output.stderr));
    }
}

/// The records' events by key, in partition order.
fn by_key(records: &[Record]) -> HashMap<String, Vec<Value>> {
    let mut keyed: HashMap<String, Vec<Value>> = HashMap::new();
    for record in records {
        keyed.entry(record.key.clone().unwrap_or_default()).or_default().push(record.got.event.clone());
    }
    keyed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_commands_apply_once_in_order_and_answer_where_they_may() {
    if !reader_ready() {
        return;
    }
    let Some(tansu) = Tansu::start().await else { return };
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let kafka = KafkaSide::new(&tansu);
    let app = spawn_app_on(&db, |c| kafka.configure(c, ADMIN_KEY)).await;
    let (a, b) = (app.fixture().await, app.fixture().await);
    let before = payments(&app, &a.practice).await;

    // The same command three times, then a hundred over two practices.
    let mut records: Vec<(&str, Vec<u8>)> =
        (0..3).map(|_| (a.practice.as_str(), payment("k-once-1", &a.patient, 4200))).collect();
    let mut sent: Vec<(String, String, i64)> = Vec::new();
    for i in 0..100 {
        let f = if i % 3 == 0 { &b } else { &a };
        let id = format!("k-order-{i}");
        records.push((f.practice.as_str(), payment(&id, &f.patient, 1000 + i)));
        sent.push((f.practice.clone(), id, 1000 + i));
    }
    // A replyto topic of the integrator's, and one that names our own command topic.
    let theirs = unique("cstest.their-replies.");
    let mut to_theirs: Value = serde_json::from_slice(&payment("k-theirs", &a.patient, 5)).unwrap();
    to_theirs["replyto"] = json!(theirs);
    let mut to_ours: Value = serde_json::from_slice(&payment("k-ours", &a.patient, 6)).unwrap();
    to_ours["replyto"] = json!(kafka.commands);
    records.push((a.practice.as_str(), serde_json::to_vec(&to_theirs).unwrap()));
    records.push((a.practice.as_str(), serde_json::to_vec(&to_ours).unwrap()));
    kafka.send(&records, &[&theirs]).await;

    let replies = read_topic(&kafka.bootstrap, &kafka.replies, 104, WITHIN).await;
    assert_eq!(replies.len(), 104, "three + a hundred + the one that named our own topic, each once");
    let keyed = by_key(&replies);
    let of_a = &keyed[&a.practice];
    assert_eq!(of_a[0]["type"], "clinicstream.command.result", "{}", of_a[0]);
    assert_eq!(of_a[0]["subject"], "k-once-1");
    assert_eq!(of_a[0]["data"]["data"]["postPayment"]["amountCents"], 4200, "{}", of_a[0]);
    assert_eq!(of_a[0], of_a[1], "a redelivery answers the first result");
    assert_eq!(of_a[1], of_a[2]);
    for (practice, got) in [(&a.practice, &of_a[3..]), (&b.practice, &keyed[&b.practice][..])] {
        let want: Vec<&str> = sent.iter().filter(|(p, _, _)| p == practice).map(|(_, id, _)| id.as_str()).collect();
        let got: Vec<&str> =
            got.iter().map(|e| e["subject"].as_str().unwrap()).filter(|s| s.starts_with("k-order")).collect();
        assert_eq!(got, want, "each practice's replies come in the order its commands were stored");
    }
    assert_eq!(
        of_a.last().unwrap()["subject"],
        "k-ours",
        "a replyto naming our command topic answers on the reply topic"
    );
    let theirs = read_topic(&kafka.bootstrap, &theirs, 1, Duration::from_secs(30)).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].got.event["subject"], "k-theirs", "{}", theirs[0].got.event);
    assert_eq!(theirs[0].key.as_deref(), Some(a.practice.as_str()), "a reply is keyed like its command");

    // The log holds each practice's payments in the order sent, and the first only once.
    assert_eq!(payments(&app, &a.practice).await, before + 1 + 66 + 2);
    for (f, of_b) in [(&a, false), (&b, true)] {
        let want: Vec<i64> = sent.iter().filter(|(p, _, _)| (p == &b.practice) == of_b).map(|(_, _, c)| *c).collect();
        let data = app
            .ok(
                ADMIN_KEY,
                "query($p: ID!) { events(practiceId: $p, first: 200) { edges { node { ... on PaymentEvent { payment { amountCents } } } } } }",
                json!({ "p": f.practice }),
            )
            .await;
        let got: Vec<i64> = data["events"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e.pointer("/node/payment/amountCents").and_then(Value::as_i64))
            .filter(|c| (1000..1100).contains(c))
            .collect();
        assert_eq!(got, want, "the log keeps the order");
    }
    assert_eq!(metric(&app, "clinicstream_commands_applied_total{door=\"kafka\"}").await, 103.0);
    assert_eq!(metric(&app, "clinicstream_commands_replayed_total{door=\"kafka\"}").await, 2.0);
    let query = "{ commandConsumers { broker source state applied replayed deadLettered } }";
    let consumers = app.ok(ADMIN_KEY, query, json!({})).await["commandConsumers"].clone();
    let line = &consumers[0];
    assert_eq!(line["broker"], "KAFKA", "{consumers}");
    assert_eq!(line["state"], "CONNECTED", "{line}");
    assert!(line["source"].as_str().unwrap().contains(&kafka.commands), "{line}");
    assert_eq!((line["applied"].as_i64(), line["replayed"].as_i64()), (Some(103), Some(2)), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_on_kafka_goes_to_the_dead_letter_and_the_next_command_still_applies() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn,clinicstream=info,librdkafka=debug,rdkafka=debug")
        .with_test_writer()
        .try_init(); // DIAG
    if !reader_ready() {
        return;
    }
    let Some(tansu) = Tansu::start().await else { return };
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let setup = spawn_app_on(&db, |_| {}).await;
    let (own, other) = (setup.fixture().await, setup.fixture().await);
    let kafka = KafkaSide::new(&tansu);
    let app = spawn_app_on(&db, |c| {
        kafka.configure(c, &own.backoffice);
        c.max_body_bytes = 64 * 1024;
    })
    .await;
    // The oversized one is 200 KiB past a 64 KiB limit: tansu 0.6.0 never serves a 10 MB
    // record (to librdkafka or kafka-python), so it would stall the partition (README).
    let messages = poison(&own.patient, &other.patient);
    let mut records: Vec<(&str, Vec<u8>)> = Vec::new();
    for (i, (_, bytes)) in messages.iter().enumerate() {
        records.push((own.practice.as_str(), bytes.clone()));
        records.push((own.practice.as_str(), payment(&format!("after-{i}"), &own.patient, 100 + i as i64)));
    }
    kafka.send(&records, &[]).await;

    let dead = read_topic(&kafka.bootstrap, &kafka.dead_letter, messages.len(), WITHIN).await;
    let replies = read_topic(&kafka.bootstrap, &kafka.replies, messages.len(), Duration::from_secs(30)).await;
    let codes: Vec<&Value> = dead.iter().map(|r| &r.got.event["data"]["error"]["code"]).collect();
    let amounts: Vec<&Value> =
        replies.iter().map(|r| &r.got.event["data"]["data"]["postPayment"]["amountCents"]).collect();
    assert_eq!(
        dead.len(),
        messages.len(),
        "each poison message once in the dead letter: {codes:?}, replies {amounts:?}"
    );
    for ((code, _), record) in messages.iter().zip(&dead) {
        checked(&record.got.event, code);
        if *code == "TOO_LARGE" {
            assert_eq!(
                record.got.event["data"]["truncated"], true,
                "a dead letter keeps only the start of a huge message"
            );
        }
    }
    let amounts: Vec<i64> =
        replies.iter().map(|r| r.got.event["data"]["data"]["postPayment"]["amountCents"].as_i64().unwrap()).collect();
    let want: Vec<i64> = (0..messages.len() as i64).map(|i| 100 + i).collect();
    assert_eq!(amounts, want, "the command after each poison message applies, in order");
    assert_eq!(payments(&app, &other.practice).await, 0, "nothing applied to the other practice");
    assert_eq!(payments(&app, &own.practice).await, messages.len());
    assert_eq!(metric(&app, "clinicstream_commands_dead_lettered_total{door=\"kafka\"}").await, messages.len() as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_consumer_whose_key_is_refused_retries_in_hand_then_dead_letters_and_goes_on() {
    if !reader_ready() {
        return;
    }
    let Some(tansu) = Tansu::start().await else { return };
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let setup = spawn_app_on(&db, |_| {}).await;
    let f = setup.fixture().await;
    let kafka = KafkaSide::new(&tansu);
    let app = spawn_app_on(&db, |c| kafka.configure(c, "cs_not_a_key_of_this_deployment")).await;
    let records = [
        (f.practice.as_str(), payment("refused-1", &f.patient, 10)),
        (f.practice.as_str(), payment("refused-2", &f.patient, 11)),
    ];
    kafka.send(&records, &[]).await;
    // Kafka counts no deliveries: the consumer tries each record five times in hand.
    let dead = read_topic(&kafka.bootstrap, &kafka.dead_letter, 2, WITHIN).await;
    let codes: Vec<&Value> = dead.iter().map(|r| &r.got.event["data"]["error"]["code"]).collect();
    assert_eq!(dead.len(), 2, "each record given up once, in order: {codes:?}");
    for (record, id) in dead.iter().zip(["refused-1", "refused-2"]) {
        let event = &record.got.event;
        assert_eq!(event["data"]["error"]["code"], "GAVE_UP", "{event}");
        let message = event["data"]["error"]["message"].as_str().unwrap();
        assert!(message.contains("5 deliveries") && message.contains("API key"), "{message}");
        assert!(event["data"]["message"].as_str().unwrap().contains(id), "{event}");
    }
    assert_eq!(metric(&app, "clinicstream_commands_retried_total{door=\"kafka\"}").await, 8.0);
    assert_eq!(payments(&app, &f.practice).await, 0);
}

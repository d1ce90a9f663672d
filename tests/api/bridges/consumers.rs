//! Consumers on the far side of each broker, and the check every test applies to what they
//! received: each message a valid CloudEvents 1.0 event of our contract, routed where the
//! contract says, and per practice every expected seq, in order, none missing (duplicates
//! counted: at least once allows them, the caller bounds them).

use futures_util::StreamExt;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One message as a consumer got it.
#[derive(Clone, Debug)]
pub struct Got {
    /// The subject, routing key or topic.
    pub route: String,
    /// `Nats-Msg-Id` or the AMQP `message_id`.
    pub dedup_id: Option<String>,
    pub content_type: Option<String>,
    /// AMQP delivery mode (2 = persistent).
    pub delivery_mode: Option<u8>,
    pub event: Value,
}

impl Got {
    pub fn seq(&self) -> i64 {
        self.event["data"]["seq"].as_i64().unwrap_or(-1)
    }

    pub fn practice(&self) -> String {
        self.event["data"]["practiceId"].as_str().unwrap_or_default().to_string()
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Door {
    Nats,
    Amqp,
    Mqtt,
    Kafka,
}

/// Checks one message against the CloudEvents 1.0 structured-JSON rules and our contract.
pub fn check_cloudevent(got: &Got, door: Door, prefix: &str) {
    let e = &got.event;
    let object = e.as_object().unwrap_or_else(|| panic!("not a JSON object: {e}"));
    for (name, _) in object {
        // Attribute names: lowercase letters and digits (CloudEvents 1.0, "Attribute Naming").
        assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "bad attribute name {name:?}");
    }
    let known = ["specversion", "id", "source", "type", "time", "datacontenttype", "sequence", "data"];
    for name in object.keys() {
        assert!(known.contains(&name.as_str()), "unexpected attribute {name:?} in {e}");
    }
    assert_eq!(e["specversion"], "1.0");
    let data = &e["data"];
    let (practice, seq, kind) = (got.practice(), got.seq(), data["type"].as_str().unwrap_or_default().to_string());
    assert!(!practice.is_empty() && seq > 0, "data carries practiceId and seq: {e}");
    assert_eq!(e["id"], data["cursor"], "id is the cursor");
    let cursor = clinicstream::events::Cursor::decode(e["id"].as_str().unwrap()).expect("id decodes as a cursor");
    assert_eq!((cursor.practice_id.as_str(), cursor.seq), (practice.as_str(), seq));
    assert_eq!(e["source"], format!("/practices/{practice}"));
    assert_eq!(e["type"], kind.as_str());
    assert_eq!(e["time"], data["occurredAt"], "time is occurredAt");
    chrono::DateTime::parse_from_rfc3339(e["time"].as_str().unwrap()).expect("time is RFC 3339");
    assert_eq!(e["datacontenttype"], "application/json");
    assert_eq!(e["sequence"], format!("{seq:019}"), "sequence is the seq, zero-padded so strings sort like seqs");
    assert_eq!(e["sequence"].as_str().unwrap().parse::<i64>().unwrap(), seq);
    let expected_route = match door {
        Door::Nats => format!("{prefix}.{practice}.{kind}"),
        Door::Amqp => format!("{practice}.{kind}"),
        Door::Mqtt => format!("{prefix}/{practice}/{kind}"),
        // The record key.
        Door::Kafka => practice.clone(),
    };
    assert_eq!(got.route, expected_route);
    match door {
        Door::Nats => {
            assert_eq!(got.dedup_id.as_deref(), e["id"].as_str(), "Nats-Msg-Id is the cursor");
            assert_eq!(got.content_type.as_deref(), Some("application/cloudevents+json"));
        }
        Door::Amqp => {
            assert_eq!(got.dedup_id.as_deref(), e["id"].as_str(), "message_id is the cursor");
            assert_eq!(got.content_type.as_deref(), Some("application/cloudevents+json"));
            assert_eq!(got.delivery_mode, Some(2), "persistent");
        }
        Door::Mqtt => {}
        Door::Kafka => assert_eq!(got.content_type.as_deref(), Some("application/cloudevents+json"), "structured mode"),
    }
}

/// Checks everything received: valid events, and per practice the first occurrences
/// exactly `expected` (every seq, in order, no gap). Returns the number of duplicates.
pub fn verify(got: &[Got], door: Door, prefix: &str, expected: &HashMap<String, Vec<i64>>) -> usize {
    let mut seen: HashSet<String> = HashSet::new();
    let mut firsts: HashMap<String, Vec<i64>> = HashMap::new();
    let mut duplicates = 0;
    for message in got {
        check_cloudevent(message, door, prefix);
        let id = message.event["id"].as_str().unwrap().to_string();
        if !seen.insert(id) {
            duplicates += 1;
            continue;
        }
        firsts.entry(message.practice()).or_default().push(message.seq());
    }
    for (practice, seqs) in expected {
        let got = firsts.remove(practice).unwrap_or_default();
        assert_eq!(&got, seqs, "{door:?}: practice {practice} got its events out of order, with gaps or extras");
    }
    assert!(firsts.is_empty(), "{door:?}: events of practices not expected: {:?}", firsts.keys());
    duplicates
}

/// How many distinct expected events are in `got`.
pub fn distinct(got: &[Got]) -> usize {
    got.iter().filter_map(|g| g.event["id"].as_str()).collect::<HashSet<_>>().len()
}

/// Everything a JetStream stream holds, in stream order (nothing before it exists).
pub async fn read_stream(url: &str, stream: &str) -> Vec<Got> {
    let client = async_nats::connect(url).await.expect("NATS connects");
    let js = async_nats::jetstream::new(client);
    let Ok(mut stream) = js.get_stream(stream).await else { return Vec::new() };
    let state = stream.info().await.expect("stream info").state.clone();
    let mut out = Vec::new();
    if state.messages == 0 {
        return out;
    }
    for seq in state.first_sequence..=state.last_sequence {
        let message = stream.get_raw_message(seq).await.expect("stream message");
        let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_string());
        out.push(Got {
            route: message.subject.to_string(),
            dedup_id: header("Nats-Msg-Id"),
            content_type: header("Content-Type"),
            delivery_mode: None,
            event: serde_json::from_slice(&message.payload).expect("the payload is JSON"),
        });
    }
    out
}

/// Waits until `count()` reaches `n` (checked every 50 ms, at most `within`).
pub async fn wait_for(within: Duration, n: usize, count: impl AsyncFnMut() -> usize) -> usize {
    crate::helpers::eventually(within, count, |have| *have >= n).await.unwrap_or_else(|have| have)
}

/// A queue bound to the exchange with `#`, consumed into a list.
pub struct AmqpConsumer {
    pub got: Arc<Mutex<Vec<Got>>>,
    _connection: lapin::Connection,
}

impl AmqpConsumer {
    pub async fn bind(url: &str, exchange: &str) -> Self {
        use lapin::options::*;
        use lapin::types::FieldTable;
        let connection =
            lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await.expect("RabbitMQ connects");
        let channel = connection.create_channel().await.unwrap();
        // Declared as the bridge declares it, so the queue can be bound before the bridge runs.
        let options = ExchangeDeclareOptions { durable: true, ..Default::default() };
        channel
            .exchange_declare(exchange.into(), lapin::ExchangeKind::Topic, options, FieldTable::default())
            .await
            .unwrap();
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let name = queue.name().clone();
        channel
            .queue_bind(name.clone(), exchange.into(), "#".into(), QueueBindOptions::default(), FieldTable::default())
            .await
            .unwrap();
        let mut consumer = channel
            .basic_consume(
                name,
                "test".into(),
                BasicConsumeOptions { no_ack: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let props = &delivery.properties;
                sink.lock().unwrap().push(Got {
                    route: delivery.routing_key.to_string(),
                    dedup_id: props.message_id().as_ref().map(|s| s.to_string()),
                    content_type: props.content_type().as_ref().map(|s| s.to_string()),
                    delivery_mode: *props.delivery_mode(),
                    event: serde_json::from_slice(&delivery.data).expect("the body is JSON"),
                });
            }
        });
        Self { got, _connection: connection }
    }

    pub fn received(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

/// An MQTT subscriber to `<prefix>/#` at QoS 1. With `persistent`, a session that survives
/// reconnects (and broker restarts, with persistence), so nothing sent while it was away
/// is lost to it.
pub struct MqttConsumer {
    pub got: Arc<Mutex<Vec<Got>>>,
    pub subscribed: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MqttConsumer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MqttConsumer {
    pub async fn subscribe(url: &str, prefix: &str, persistent: bool) -> Self {
        use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
        let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
        let mut options = MqttOptions::new(crate::bridges::brokers::unique("cs-test-sub-"), "127.0.0.1", port);
        options.set_clean_session(!persistent).set_keep_alive(Duration::from_secs(5));
        let (client, mut events) = AsyncClient::new(options, 100);
        let got = Arc::new(Mutex::new(Vec::new()));
        let subscribed = Arc::new(tokio::sync::Notify::new());
        let (sink, ready, topic) = (got.clone(), subscribed.clone(), format!("{prefix}/#"));
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        if !ack.session_present {
                            client.subscribe(topic.clone(), QoS::AtLeastOnce).await.unwrap();
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => ready.notify_one(),
                    Ok(Event::Incoming(Packet::Publish(p))) => sink.lock().unwrap().push(Got {
                        route: p.topic.clone(),
                        dedup_id: None,
                        content_type: None,
                        delivery_mode: None,
                        event: serde_json::from_slice(&p.payload).expect("the payload is JSON"),
                    }),
                    Ok(_) => {}
                    // timing: the client's pause before it reconnects, not a wait for a state.
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        let consumer = Self { got, subscribed, task };
        tokio::time::timeout(Duration::from_secs(10), consumer.subscribed.notified())
            .await
            .expect("the MQTT subscription is confirmed");
        consumer
    }

    pub fn received(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

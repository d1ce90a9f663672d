//! The happy path on the shared brokers: every event of two practices reaches JetStream,
//! RabbitMQ and MQTT once, in seq order, as CloudEvents of the contract; the `bridges`
//! query and `/metrics` show it; `thin` payloads and event-type lists do what they say.

use serde_json::json;
use std::time::Duration;

use super::brokers::{SHARED_AMQP, SHARED_MQTT, SHARED_NATS, shared_brokers, shared_nats, unique};
use super::consumers::{AmqpConsumer, Door, MqttConsumer, distinct, read_stream, verify, wait_for};
use super::support::{bridge_until, bridges, delete_exchange, delete_stream, expected, fast, pay, total};
use crate::helpers::{Backend, spawn_app_with};

const PAYMENTS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_jetstream_rabbitmq_and_mqtt_once_in_order_as_cloudevents() {
    if !shared_brokers() {
        return;
    }
    let (stream, prefix, exchange) = (unique("CSTEST_"), unique("cstest"), unique("cstest.events."));
    let amqp = AmqpConsumer::bind(SHARED_AMQP, &exchange).await;
    let mqtt = MqttConsumer::subscribe(SHARED_MQTT, &prefix, false).await;
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        fast(c);
        c.bridges.nats_url = Some(SHARED_NATS.into());
        c.bridges.nats_stream = stream.clone();
        c.bridges.nats_prefix = prefix.clone();
        c.bridges.amqp_url = Some(SHARED_AMQP.into());
        c.bridges.amqp_exchange = exchange.clone();
        c.bridges.mqtt_url = Some(SHARED_MQTT.into());
        c.bridges.mqtt_prefix = prefix.clone();
    })
    .await
    else {
        return;
    };
    let (a, b) = (app.fixture().await, app.fixture().await);
    // Interleaved writes to both practices, while the bridges run.
    for _ in 0..PAYMENTS / 10 {
        pay(&app, &a.backoffice, &a.patient, 10).await;
        pay(&app, &b.backoffice, &b.patient, 10).await;
    }
    let want = expected(&app, &[&a.practice, &b.practice], None).await;
    let n = total(&want);
    assert_eq!(n, 2 * (PAYMENTS + 1), "each practice: PATIENT_CREATED and the payments");

    let within = Duration::from_secs(30);
    let nats = wait_for(within, n, async || distinct(&read_stream(SHARED_NATS, &stream).await)).await;
    assert_eq!(nats, n, "JetStream got every event");
    wait_for(within, n, async || distinct(&amqp.received())).await;
    wait_for(within, n, async || distinct(&mqtt.received())).await;

    let in_stream = read_stream(SHARED_NATS, &stream).await;
    assert_eq!(verify(&in_stream, Door::Nats, &prefix, &want), 0, "the stream holds each event once");
    assert_eq!(in_stream.len(), n);
    assert_eq!(verify(&amqp.received(), Door::Amqp, &prefix, &want), 0, "no duplicate without a failure");
    assert_eq!(verify(&mqtt.received(), Door::Mqtt, &prefix, &want), 0, "no duplicate without a failure");

    // `data` is the webhook body's `data`: the envelope fields and the snapshot.
    let payment = in_stream.iter().find(|g| g.event["type"] == "PAYMENT_POSTED").unwrap();
    let data = &payment.event["data"];
    for field in ["cursor", "seq", "type", "occurredAt", "practiceId", "payment", "patient"] {
        assert!(data.get(field).is_some(), "data has {field}: {data}");
    }
    assert_eq!(data["patient"]["firstName"], "Maria");

    // The bridges query and /metrics.
    for kind in ["NATS", "AMQP", "MQTT"] {
        let status = bridge_until(&app, kind, within, |b| b["lag"] == 0 && b["state"] == "CONNECTED").await;
        assert_eq!(status["state"], "CONNECTED", "{status}");
        assert_eq!(status["lag"], 0, "{status}");
        assert_eq!(status["practicesBehind"], 0);
        assert_eq!(status["practicesHeld"], 2, "one replica holds both practices");
        assert!(status["published"].as_i64().unwrap() >= n as i64, "{status}");
        assert_eq!(status["lastError"], json!(null), "{status}");
    }
    let metrics = app.http().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        "clinicstream_bridge_lag_events{bridge=\"nats\"} 0",
        "clinicstream_bridge_up{bridge=\"amqp\"} 1",
        "clinicstream_bridge_practices{bridge=\"mqtt\"} 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "/metrics has {line:?}");
    }
    let published = metrics
        .lines()
        .find(|l| l.starts_with("clinicstream_bridge_publishes_total{bridge=\"nats\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .expect("publishes counter");
    assert!(published >= n as f64);
    assert!(metrics.contains("clinicstream_bridge_ack_latency_seconds_count{bridge=\"amqp\"}"));

    // Only a global ADMIN key sees the bridges.
    let body = app.gql(Some(&a.practice_admin), "{ bridges { kind } }", json!({})).await;
    assert_eq!(crate::helpers::code(&body), "FORBIDDEN");
    drop(app);
    delete_stream(SHARED_NATS, &stream).await;
    delete_exchange(SHARED_AMQP, &exchange).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thin_payloads_carry_ids_only_and_type_lists_pick_the_events() {
    if !shared_nats() {
        return;
    }
    let (stream, prefix) = (unique("CSTEST_"), unique("cstest"));
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        fast(c);
        c.bridges.nats_url = Some(SHARED_NATS.into());
        c.bridges.nats_stream = stream.clone();
        c.bridges.nats_prefix = prefix.clone();
        c.bridges.nats_types = "PAYMENT_POSTED".into();
        c.bridges.payload = clinicstream::bridges::PayloadMode::Thin;
    })
    .await
    else {
        return;
    };
    let f = app.fixture().await;
    pay(&app, &f.backoffice, &f.patient, 5).await;
    let want = expected(&app, &[&f.practice], Some("PAYMENT_POSTED")).await;
    assert_eq!(total(&want), 5);
    let got = wait_for(Duration::from_secs(30), 5, async || distinct(&read_stream(SHARED_NATS, &stream).await)).await;
    assert_eq!(got, 5);
    let status = bridge_until(&app, "NATS", Duration::from_secs(10), |b| b["lag"] == 0).await;
    assert_eq!(status["lag"], 0, "the skipped PATIENT_CREATED does not count as lag: {status}");
    assert_eq!(status["eventTypes"], json!(["PAYMENT_POSTED"]));
    assert_eq!(status["thinPayload"], true);
    let in_stream = read_stream(SHARED_NATS, &stream).await;
    assert_eq!(verify(&in_stream, Door::Nats, &prefix, &want), 0);
    for message in &in_stream {
        let data = message.event["data"].as_object().unwrap();
        let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["cursor", "occurredAt", "patientId", "paymentId", "practiceId", "seq", "type"]);
        assert_eq!(data["patientId"], f.patient.as_str());
        assert!(!message.event.to_string().contains("Maria"), "no patient snapshot on a thin bus");
    }
    assert_eq!(bridges(&app).await.len(), 1, "only the configured bridge");
    drop(app);
    delete_stream(SHARED_NATS, &stream).await;
}

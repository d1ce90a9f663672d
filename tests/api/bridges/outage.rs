//! Brokers that go away: the API goes on (mutations commit, `/readyz` stays 200), the
//! bridge reports the failure and backs off with its cursor held, and once the broker is
//! back everything arrives, in order. Each test runs a broker of its own on a free port
//! (the shared ones are never stopped).

use std::time::Duration;

use super::brokers::{OwnBroker, free_port, unique};
use super::consumers::{Door, MqttConsumer, distinct, read_stream, verify, wait_for};
use super::support::{bridge_until, expected, fast, pay, ready, total};
use crate::helpers::{Backend, spawn_app_with};

const WITHIN: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jetstream_outage_holds_the_cursor_and_everything_arrives_in_order_once_it_is_back() {
    let Some(mut nats) = OwnBroker::nats().await else { return };
    let (stream, prefix, url) = (unique("CSTEST_"), unique("cstest"), nats.nats_url());
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        fast(c);
        c.bridges.nats_url = Some(url.clone());
        c.bridges.nats_stream = stream.clone();
        c.bridges.nats_prefix = prefix.clone();
        // A tiny bus buffer: the waiting bridge falls behind it and catches up from the
        // log, on SQLite's single connection, while the mutations go on.
        c.bus.bus_capacity = 2;
        c.bridges.batch = 4;
    })
    .await
    else {
        return;
    };
    let f = app.fixture().await;
    pay(&app, &f.backoffice, &f.patient, 10).await;
    assert_eq!(wait_for(WITHIN, 11, async || distinct(&read_stream(&url, &stream).await)).await, 11);

    nats.kill();
    // Writes during the outage commit as always; readiness does not depend on bridges.
    pay(&app, &f.backoffice, &f.patient, 10).await;
    assert!(ready(&app).await, "/readyz stays 200 while a bridge's broker is down");
    let down = bridge_until(&app, "NATS", WITHIN, |b| b["state"] == "FAILING" && b["lag"].as_i64() > Some(0)).await;
    assert_eq!(down["state"], "FAILING", "{down}");
    assert!(down["lastError"].as_str().is_some_and(|e| !e.is_empty()), "{down}");
    assert!(down["lag"].as_i64().unwrap() >= 10, "the events written meanwhile wait: {down}");
    pay(&app, &f.backoffice, &f.patient, 5).await;

    nats.start().await;
    let want = expected(&app, &[&f.practice], None).await;
    assert_eq!(total(&want), 26);
    assert_eq!(wait_for(WITHIN, 26, async || distinct(&read_stream(&url, &stream).await)).await, 26);
    let in_stream = read_stream(&url, &stream).await;
    assert_eq!(verify(&in_stream, Door::Nats, &prefix, &want), 0, "Nats-Msg-Id kept resends out of the stream");
    let up = bridge_until(&app, "NATS", WITHIN, |b| b["state"] == "CONNECTED" && b["lag"] == 0).await;
    assert_eq!((up["state"].as_str(), up["lag"].as_i64()), (Some("CONNECTED"), Some(0)), "{up}");
    assert!(up["failures"].as_i64().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_reported_and_never_blocks_the_api() {
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let (stream, prefix) = (unique("CSTEST_"), unique("cstest"));
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        fast(c);
        c.bridges.nats_url = Some(url.clone());
        c.bridges.nats_stream = stream.clone();
        c.bridges.nats_prefix = prefix.clone();
    })
    .await
    else {
        return;
    };
    // Nothing listens there: the app started anyway and serves.
    let f = app.fixture().await;
    pay(&app, &f.backoffice, &f.patient, 3).await;
    assert!(ready(&app).await);
    let status = bridge_until(&app, "NATS", WITHIN, |b| b["state"] == "FAILING").await;
    assert_eq!(status["state"], "FAILING", "{status}");
    let error = status["lastError"].as_str().unwrap_or_default();
    assert!(error.contains(&format!("cannot connect to NATS at {url}")), "the error names the broker: {error}");
    assert!(status["lastErrorAt"].is_string());

    // The broker appears: everything written so far goes out, in order.
    let Some(_nats) = OwnBroker::nats_on(port).await else { return };
    let want = expected(&app, &[&f.practice], None).await;
    assert_eq!(wait_for(WITHIN, 4, async || distinct(&read_stream(&url, &stream).await)).await, 4);
    assert_eq!(verify(&read_stream(&url, &stream).await, Door::Nats, &prefix, &want), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt_broker_restart_loses_nothing_and_keeps_the_order() {
    let Some(mut mosquitto) = OwnBroker::mosquitto().await else { return };
    let (prefix, url) = (unique("cstest"), mosquitto.mqtt_url());
    // A persistent session: the broker keeps what arrives while the consumer reconnects.
    let consumer = MqttConsumer::subscribe(&url, &prefix, true).await;
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        fast(c);
        c.bridges.mqtt_url = Some(url.clone());
        c.bridges.mqtt_prefix = prefix.clone();
    })
    .await
    else {
        return;
    };
    let f = app.fixture().await;
    pay(&app, &f.backoffice, &f.patient, 10).await;
    assert_eq!(wait_for(WITHIN, 11, async || distinct(&consumer.received())).await, 11);

    mosquitto.stop();
    pay(&app, &f.backoffice, &f.patient, 10).await;
    assert!(ready(&app).await);
    let down = bridge_until(&app, "MQTT", WITHIN, |b| b["state"] == "FAILING").await;
    assert_eq!(down["state"], "FAILING", "{down}");

    mosquitto.start().await;
    let want = expected(&app, &[&f.practice], None).await;
    assert_eq!(wait_for(WITHIN, 21, async || distinct(&consumer.received())).await, 21);
    let duplicates = verify(&consumer.received(), Door::Mqtt, &prefix, &want);
    // One publish in flight per connection: at most the one unacknowledged at the stop.
    assert!(duplicates <= 1, "{duplicates} duplicates");
    let up = bridge_until(&app, "MQTT", WITHIN, |b| b["state"] == "CONNECTED" && b["lag"] == 0).await;
    assert_eq!(up["lag"], 0, "{up}");
}

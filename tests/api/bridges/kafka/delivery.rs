//! The happy path: every event of two practices reaches the topic once, in seq order,
//! keyed by practice (one partition each), each a valid CloudEvent in structured mode;
//! `thin` payloads and the event-type list do what they say; the `bridges` query shows it.

use std::time::Duration;

use super::{DOOR, Tansu, gots, keyed_by_practice, read_topic, reader_ready};
use crate::bridges::brokers::unique;
use crate::bridges::consumers::verify;
use crate::bridges::support::{bridge_until, expected, fast, pay, total};
use crate::helpers::{Backend, spawn_app_with};

const PAYMENTS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_two_practices_reaches_kafka_once_in_order_keyed_by_practice() {
    if !reader_ready() {
        return;
    }
    let Some(tansu) = Tansu::start().await else { return };
    let topic = unique("cstest.events.");
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        fast(c);
        c.bridges.kafka.brokers = Some(tansu.bootstrap());
        c.bridges.kafka.topic = topic.clone();
        c.bridges.kafka.partitions = 3;
    })
    .await
    else {
        return;
    };
    let (a, b) = (app.fixture().await, app.fixture().await);
    for _ in 0..PAYMENTS / 10 {
        pay(&app, &a.backoffice, &a.patient, 10).await;
        pay(&app, &b.backoffice, &b.patient, 10).await;
    }
    let want = expected(&app, &[&a.practice, &b.practice], None).await;
    let n = total(&want);
    assert_eq!(n, 2 * (PAYMENTS + 1));

    let records = read_topic(&tansu.bootstrap(), &topic, n, Duration::from_secs(60)).await;
    assert_eq!(verify(&gots(&records), DOOR, "", &want), 0, "a read_committed consumer sees each event once");
    assert_eq!(records.len(), n);
    keyed_by_practice(&records);
    let payment = records.iter().find(|r| r.got.event["type"] == "PAYMENT_POSTED").unwrap();
    assert_eq!(payment.got.event["data"]["patient"]["firstName"], "Maria", "full payload, as the other bridges");

    // tansu has no EndTxn: the bridge asked before its first producer started, and went
    // straight to the shared idempotent producer, without a failed commit.
    let status =
        bridge_until(&app, "KAFKA", Duration::from_secs(15), |s| s["lag"] == 0 && s["state"] == "CONNECTED").await;
    assert_eq!(status["state"], "CONNECTED", "{status}");
    assert_eq!(status["lag"], 0, "{status}");
    assert!(status["published"].as_i64().unwrap() >= n as i64, "{status}");
    assert!(status["destination"].as_str().unwrap().contains(&topic), "{status}");
    assert_eq!(status["practicesHeld"], 2, "{status}");
    let metrics = app.http().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("clinicstream_bridge_ack_latency_seconds_count{bridge=\"kafka\"}"));
    let failures = metrics.lines().find(|l| l.starts_with("clinicstream_bridge_failures_total{bridge=\"kafka\"}"));
    assert!(failures.is_none_or(|line| line.ends_with(" 0")), "no publish failed: {failures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thin_payloads_and_the_type_list_hold_for_kafka() {
    if !reader_ready() {
        return;
    }
    let Some(tansu) = Tansu::start().await else { return };
    let topic = unique("cstest.thin.");
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        fast(c);
        c.bridges.kafka.brokers = Some(tansu.bootstrap());
        c.bridges.kafka.topic = topic.clone();
        c.bridges.kafka.types = "PAYMENT_POSTED".into();
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
    let records = read_topic(&tansu.bootstrap(), &topic, 5, Duration::from_secs(60)).await;
    assert_eq!(verify(&gots(&records), DOOR, "", &want), 0);
    assert_eq!(records.len(), 5, "only the listed type");
    for record in &records {
        let data = &record.got.event["data"];
        assert!(data["paymentId"].is_string() && data.get("payment").is_none(), "thin: ids only: {data}");
    }
}

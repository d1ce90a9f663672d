//! Audit rows for every door that touches a patient — queries and mutations over HTTP,
//! websockets and SSE, subscriptions (start, deliveries, stop), webhooks — and never one
//! in another practice's trail.

use serde_json::{Value, json};
use std::time::Duration;

use super::{audit_log, audit_until, fast_flush};
use crate::helpers::{ADMIN_KEY, TestApp};
use crate::sse_client::SseStream;
use crate::webhooks::receiver::Receiver;
use crate::webhooks::support::{create_endpoint, fast};
use crate::ws_client::{TRANSPORT_WS, WsClient};

const READ: &str = "query ReadPatient($id: ID!) { patient(id: $id) { id firstName } }";
const EVENTS: &str = "query ReadLog($p: ID!) { events(practiceId: $p, first: 50) { edges { node { seq ... on PaymentEvent { patient { id } } } } } }";
const WATCH: &str = "subscription Watch($p: ID!) { paymentPosted(practiceId: $p) { seq patient { id } } }";

fn settings(config: &mut clinicstream::Config) {
    fast(config);
    fast_flush(config);
}

crate::webhook_tests!(settings => every_door_that_touches_a_patient_is_audited);

fn rows<'a>(log: &'a [Value], action: &str, transport: &str) -> Vec<&'a Value> {
    log.iter().filter(|r| r["action"] == action && r["transport"] == transport).collect()
}

async fn every_door_that_touches_a_patient_is_audited(app: TestApp) {
    let f = app.fixture().await;
    let other = app.fixture().await;
    let receiver = Receiver::start().await;
    create_endpoint(&app, &f.practice_admin, &f.practice, &receiver.url("/hook"), json!(["PAYMENT_POSTED"])).await;

    // HTTP: a query and a mutation.
    app.ok(&f.backoffice, READ, json!({ "id": f.patient })).await;
    // A websocket subscription, then a payment it receives.
    let mut ws = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    ws.subscribe("w", WATCH, json!({ "p": f.practice })).await;
    audit_until(&app, &f.practice, |log| !rows(log, "SUBSCRIBE", "WEBSOCKET").is_empty()).await;
    let body = app.post_payment(&f.backoffice, &f.patient, 5).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(ws.next_data("w").await["data"]["paymentPosted"]["patient"]["id"], json!(f.patient));
    // The log's snapshots, read over HTTP.
    app.ok(&f.backoffice, EVENTS, json!({ "p": f.practice })).await;
    // A query over a websocket.
    ws.subscribe("q", READ, json!({ "id": f.patient })).await;
    assert_eq!(ws.next_data("q").await["data"]["patient"]["id"], json!(f.patient));
    // SSE: a query, and a subscription opened and closed.
    let mut sse = SseStream::open(&app, &f.backoffice, READ, json!({ "id": f.patient }), None).await;
    let (_, data) = sse.next_data().await;
    assert_eq!(data["data"]["patient"]["id"], json!(f.patient), "{data}");
    let sse_sub = SseStream::open(&app, &f.subscriber, WATCH, json!({ "p": f.practice }), None).await;
    audit_until(&app, &f.practice, |log| !rows(log, "SUBSCRIBE", "SSE").is_empty()).await;
    drop(sse_sub);
    ws.close().await;
    // Another practice's key reads its own patient, and fails to read ours.
    app.ok(&other.backoffice, READ, json!({ "id": other.patient })).await;
    let refused = app.gql(Some(&other.backoffice), READ, json!({ "id": f.patient })).await;
    assert!(refused.get("errors").is_some(), "{refused}");

    let log = audit_until(&app, &f.practice, |log| {
        rows(log, "UNSUBSCRIBE", "WEBSOCKET").len() == 1
            && rows(log, "UNSUBSCRIBE", "SSE").len() == 1
            && rows(log, "DELIVER", "WEBSOCKET").len() == 1
            && !rows(log, "DELIVER", "WEBHOOK").is_empty()
            && rows(log, "READ", "SSE").len() == 1
            && rows(log, "READ", "WEBSOCKET").len() == 1
    })
    .await;
    let ours = json!([f.patient]);
    let http_reads = rows(&log, "READ", "HTTP");
    assert_eq!(http_reads.len(), 2, "patient(id) and events(...): {log:#?}");
    assert!(
        http_reads.iter().all(|r| r["patientIds"] == ours && r["role"] == "BACKOFFICE" && r["apiKeyId"].is_string())
    );
    let names: Vec<&str> = http_reads.iter().map(|r| r["operationName"].as_str().unwrap()).collect();
    assert_eq!(names, ["ReadLog", "ReadPatient"], "newest first");
    // createPatient (the fixture) and postPayment.
    let changes = rows(&log, "CHANGE", "HTTP");
    assert_eq!(changes.len(), 2, "{log:#?}");
    assert!(changes.iter().all(|r| r["patientIds"] == ours));
    let subscribe = rows(&log, "SUBSCRIBE", "WEBSOCKET")[0];
    assert_eq!(subscribe["role"], "SUBSCRIBER");
    assert_eq!(subscribe["operationName"], "Watch");
    let filter = subscribe["filter"].as_str().unwrap();
    assert!(filter.contains("paymentPosted(practiceId: $p)") && filter.contains(&f.practice), "{filter}");
    assert_eq!(rows(&log, "UNSUBSCRIBE", "WEBSOCKET")[0]["filter"], subscribe["filter"]);
    let deliver = rows(&log, "DELIVER", "WEBSOCKET")[0];
    assert_eq!((&deliver["patientIds"], &deliver["deliveries"]), (&ours, &json!(1)), "{deliver}");
    let webhook: i64 = rows(&log, "DELIVER", "WEBHOOK").iter().map(|r| r["deliveries"].as_i64().unwrap()).sum();
    assert_eq!(webhook, 1, "one payment, delivered once: {log:#?}");
    assert!(rows(&log, "DELIVER", "WEBHOOK").iter().all(|r| r["patientIds"] == ours && r["apiKeyId"].is_null()));
    assert_eq!(rows(&log, "READ", "SSE")[0]["patientIds"], ours);
    assert_eq!(rows(&log, "READ", "WEBSOCKET")[0]["patientIds"], ours);
    // Times are in order, newest first, and ids unique.
    let ids: std::collections::HashSet<&str> = log.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), log.len());
    // Nothing of ours in the other practice's trail, and none of theirs in ours.
    audit_until(&app, &other.practice, |theirs| !theirs.is_empty()).await;
    let theirs = audit_log(&app, ADMIN_KEY, &other.practice, None).await;
    assert!(theirs.iter().all(|r| r["patientIds"] == json!([other.patient])), "{theirs:#?}");
    assert!(!theirs.is_empty());
    assert!(log.iter().all(|r| r["patientIds"] == ours || r["patientIds"] == json!([])), "{log:#?}");
    // One patient's rows: the same rows less SUBSCRIBE/UNSUBSCRIBE (which name none).
    let one = audit_log(&app, &f.practice_admin, &f.practice, Some(&f.patient)).await;
    assert!(!one.is_empty() && one.iter().all(|r| r["patientIds"] == ours));
    let none = audit_log(&app, &f.practice_admin, &f.practice, Some(&other.patient)).await;
    assert!(none.is_empty(), "{none:#?}");
}

/// Rows in the whole `audit_log` table, read from the database (the trail's query would
/// be audited itself).
async fn written(app: &TestApp) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.state().services.domain.db;
    let sql = Statement::from_string(db.get_database_backend(), "SELECT COUNT(*) AS n FROM audit_log");
    db.query_one_raw(sql).await.unwrap().unwrap().try_get::<i64>("", "n").unwrap()
}

/// The trail is written as soon as one INSERT's worth of rows is queued, not only every
/// `USAGE_FLUSH_MS` (a minute here): a few rows wait for the interval, a burst goes out at
/// once, so a busy replica writes many small batches instead of one burst per interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_of_rows_is_written_before_the_interval() {
    let adjust = |config: &mut clinicstream::Config| config.metering.usage_flush_ms = 60_000;
    let Some(app) = crate::helpers::spawn_app_with(crate::helpers::Backend::Sqlite, adjust).await else { return };
    let f = app.fixture().await;
    let before = written(&app).await;
    for _ in 0..10 {
        app.ok(&f.backoffice, READ, json!({ "id": f.patient })).await;
    }
    // timing: how long a handful of rows is watched not being written; the interval is 60 s.
    let early = crate::helpers::eventually(Duration::from_millis(500), async || written(&app).await, |n| *n > before);
    assert_eq!(early.await, Err(before), "a handful of rows waits for the interval");

    for _ in 0..clinicstream::audit::FLUSH_AT {
        app.ok(&f.backoffice, READ, json!({ "id": f.patient })).await;
    }
    let full = before + clinicstream::audit::FLUSH_AT as i64;
    let seen = crate::helpers::eventually(Duration::from_secs(15), async || written(&app).await, |n| *n >= full).await;
    assert!(seen.is_ok(), "{} rows queued, {seen:?} written 15 s later (the interval is 60 s)", full - before);
}

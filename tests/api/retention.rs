//! Retention: pruning under live writes deletes only what is older than the retention,
//! oldest first; every subscriber (live or resuming inside the retention) still gets
//! every event once, in order; a cursor before what is kept is CURSOR_EXPIRED; old
//! idempotency keys are forgotten. Time is a `ManualClock`, and rounds are run directly.

use chrono::Utc;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

use clinicstream::clock::ManualClock;
use clinicstream::config::RetentionArgs;
use clinicstream::events::Cursor;
use clinicstream::retention::{Pruned, prune};

use crate::helpers::{Backend, TestApp, code, fresh_db, spawn_replica};
use crate::replicas::{EVENTS, collect, seqs, subscriber};
use crate::ws_client::{TRANSPORT_WS, WsClient};

const HOUR: Duration = Duration::from_secs(3600);

fn one_hour() -> RetentionArgs {
    RetentionArgs { event_retention: HOUR, webhook_retention: HOUR, idempotency_retention: HOUR, audit_retention: HOUR }
}

fn cursor(practice: &str, seq: i64) -> String {
    Cursor { practice_id: practice.to_string(), seq }.encode()
}

async fn pay(app: &TestApp, key: &str, patient: &str, idempotency_key: Option<&str>, cents: i64) -> serde_json::Value {
    app.gql(
        Some(key),
        "mutation($p: ID!, $a: Int!, $k: String) { postPayment(input: {patientId: $p, amountCents: $a, method: CARD, idempotencyKey: $k}) { id } }",
        json!({ "p": patient, "a": cents, "k": idempotency_key }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_under_live_writes_keeps_the_retention_sqlite() {
    pruning_under_live_writes_keeps_the_retention(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_under_live_writes_keeps_the_retention_postgres() {
    pruning_under_live_writes_keeps_the_retention(Backend::Postgres).await;
}

async fn pruning_under_live_writes_keeps_the_retention(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = Arc::new(spawn_replica(&db, clock.clone()).await);
    let f = app.fixture().await;
    // seq 1 is PATIENT_CREATED; 2..=6 are old payments, one with an idempotency key.
    assert!(pay(&app, &f.backoffice, &f.patient, Some("old-key"), 5).await.get("errors").is_none());
    for _ in 0..4 {
        pay(&app, &f.backoffice, &f.patient, None, 1).await;
    }
    clock.advance(chrono::Duration::hours(2));
    // 7..=11 are inside the retention.
    for _ in 0..5 {
        pay(&app, &f.backoffice, &f.patient, None, 1).await;
    }
    let mut live = subscriber(&app, &f.subscriber, &f.practice, None).await;
    let mut resuming = subscriber(&app, &f.subscriber, &f.practice, Some(&cursor(&f.practice, 8))).await;

    // Pruning rounds while 30 more payments go in.
    let writer = {
        let (app, key, patient) = (app.clone(), f.backoffice.clone(), f.patient.clone());
        tokio::spawn(async move {
            for _ in 0..30 {
                let body = pay(&app, &key, &patient, None, 1).await;
                assert!(body.get("errors").is_none(), "{body}");
            }
        })
    };
    let mut total = Pruned::default();
    while !writer.is_finished() {
        let round = prune(&app.state().services.domain, &one_hour()).await.expect("a pruning round");
        total.events += round.events;
        total.idempotency_keys += round.idempotency_keys;
        // timing: rounds spaced out so that they interleave with the writes, not outrun them.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writer.await.unwrap();
    assert_eq!(total.events, 6, "seq 1..=6 are older than the retention, nothing else");
    assert_eq!(total.idempotency_keys, 1);

    assert_eq!(seqs(&app.log(&f.practice).await), (7..=41).collect::<Vec<_>>(), "a gapless suffix is kept");
    assert_eq!(seqs(&collect(&mut live, 30).await), (12..=41).collect::<Vec<_>>(), "live: every event once, in order");
    assert_eq!(seqs(&collect(&mut resuming, 33).await), (9..=41).collect::<Vec<_>>(), "resumed inside the retention");

    // Before what is kept: expired, on the query and on a subscription.
    let query = "query($p: ID!, $a: String) { events(practiceId: $p, after: $a) { edges { node { seq } } } }";
    let expired = app.gql(Some(&f.subscriber), query, json!({ "p": f.practice, "a": cursor(&f.practice, 3) })).await;
    assert_eq!(code(&expired), "CURSOR_EXPIRED", "{expired}");
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    client.subscribe("x", EVENTS, json!({ "p": f.practice, "a": cursor(&f.practice, 3) })).await;
    let refused = client.recv().await.unwrap();
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "CURSOR_EXPIRED", "{refused}");
    // Right before the oldest kept event is the edge, and fine.
    let edge = app.gql(Some(&f.subscriber), query, json!({ "p": f.practice, "a": cursor(&f.practice, 6) })).await;
    assert_eq!(edge["data"]["events"]["edges"][0]["node"]["seq"], 7, "{edge}");

    // The old key is forgotten: the same key with another request runs anew.
    let reused = pay(&app, &f.backoffice, &f.patient, Some("old-key"), 7).await;
    assert!(reused.get("errors").is_none(), "{reused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_whose_every_event_is_pruned_resumes_only_from_its_head() {
    let Some(db) = fresh_db(Backend::Sqlite).await else { return };
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_replica(&db, clock.clone()).await;
    let f = app.fixture().await;
    pay(&app, &f.backoffice, &f.patient, None, 1).await;
    clock.advance(chrono::Duration::hours(2));
    let pruned = prune(&app.state().services.domain, &one_hour()).await.unwrap();
    assert_eq!(pruned.events, 2);
    let query = "query($p: ID!, $a: String) { events(practiceId: $p, after: $a) { edges { node { seq } } } }";
    let expired = app.gql(Some(&f.subscriber), query, json!({ "p": f.practice, "a": cursor(&f.practice, 1) })).await;
    assert_eq!(code(&expired), "CURSOR_EXPIRED", "{expired}");
    let head = app.gql(Some(&f.subscriber), query, json!({ "p": f.practice, "a": cursor(&f.practice, 2) })).await;
    assert_eq!(head["data"]["events"]["edges"], json!([]), "{head}");
}

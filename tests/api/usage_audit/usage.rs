//! Usage totals equal exactly what the test did: operations by type, deliveries by
//! transport and event type, peaks — across two replicas and a restart of one of them.

use serde_json::json;
use std::time::Duration;

use super::{fast_flush, usage, usage_until};
use crate::helpers::{Backend, TestApp, fresh_db, spawn_app_on};
use crate::redis_server::shared;
use crate::replicas::{collect, subscriber};

const PATIENT: &str = "query($id: ID!) { patient(id: $id) { id firstName } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_across_two_replicas_and_a_restart() {
    let Some(redis) = shared() else { return };
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let prefix = format!("cs-test-{}", uuid::Uuid::now_v7().simple());
    let replica = |db| {
        let (redis, prefix) = (redis.clone(), prefix.clone());
        async move {
            spawn_app_on(db, move |config| {
                config.bus.redis_url = Some(redis);
                config.bus.redis_prefix = prefix;
                fast_flush(config);
            })
            .await
        }
    };
    let a = replica(&db).await;
    let b = replica(&db).await;
    // One mutation by the BACKOFFICE key (createPatient); the admin's setup is metered
    // under no practice (it touches no patient).
    let f = a.fixture().await;
    // One websocket connection on B: a query (the sync `{ __typename }`) and a subscription.
    let mut client = subscriber(&b, &f.subscriber, &f.practice, None).await;
    for replica in [&a, &b, &a, &b, &a] {
        let body = replica.post_payment(&f.backoffice, &f.patient, 1).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    for _ in 0..3 {
        b.ok(&f.backoffice, PATIENT, json!({ "id": f.patient })).await;
    }
    assert_eq!(collect(&mut client, 5).await.len(), 5);
    // A restart: A stops (flushing on its way out), C takes its place on the database.
    a.stop().await;
    let c = replica(&db).await;
    for replica in [&c, &b] {
        let body = replica.post_payment(&f.backoffice, &f.patient, 1).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    assert_eq!(collect(&mut client, 2).await.len(), 2);
    let expected = |u: &serde_json::Value| u["mutations"] == 8 && u["deliveries"] == 7 && u["queries"] == 4;
    let first = usage_until(&c, &f.practice, expected).await;
    // Several flushes later nothing has been counted twice.
    // timing: a negative check; five flush intervals pass in which nothing may be added.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let u = usage(&b, &f.practice).await;
    assert_eq!(u, first, "usage did not move once everything was flushed");
    assert_eq!(u["operations"], 13, "{u:#}");
    assert_eq!(u["queries"], 4);
    assert_eq!(u["mutations"], 8);
    assert_eq!(u["subscriptions"], 1);
    assert_eq!(u["deliveries"], 7);
    assert_eq!(u["deliveriesByTransport"], json!([{ "transport": "WEBSOCKET", "count": 7 }]));
    assert_eq!(u["deliveriesByEventType"], json!([{ "eventType": "PAYMENT_POSTED", "count": 7 }]));
    assert_eq!(u["peakConnections"], 1);
    assert_eq!(u["peakSubscriptions"], 1);
    let buckets = u["buckets"].as_array().unwrap();
    assert!(!buckets.is_empty() && buckets.len() <= 2, "one bucket per hour with usage: {buckets:#?}");
    let sum = |field: &str| buckets.iter().map(|b| b[field].as_i64().unwrap()).sum::<i64>();
    assert_eq!((sum("operations"), sum("mutations"), sum("deliveries")), (13, 8, 7));
    // Confined to a key that did nothing: zeros.
    let now = chrono::Utc::now();
    let none = b
        .ok(
            crate::helpers::ADMIN_KEY,
            super::USAGE,
            json!({ "p": f.practice, "f": now - chrono::Duration::hours(2), "t": now + chrono::Duration::hours(1), "k": "no-such-key" }),
        )
        .await;
    assert_eq!(none["usage"]["operations"], 0);
    assert_eq!(none["usage"]["buckets"], json!([]));
    client.close().await;
    drop((b, c));
}

/// The flush adds: a replica's counts written in several flushes, with another replica's
/// in between, sum exactly (no overwrite), on SQLite too.
async fn counts_add_up_over_many_flushes(app: TestApp) {
    let f = app.fixture().await;
    for query in 1..=6 {
        app.ok(&f.backoffice, PATIENT, json!({ "id": f.patient })).await;
        // Each query is in the database before the next is made: six flushes at least.
        usage_until(&app, &f.practice, |u| u["queries"] == query).await;
    }
    let u = usage_until(&app, &f.practice, |u| u["queries"] == 6).await;
    assert_eq!(u["mutations"], 1, "createPatient: {u:#}");
    assert_eq!(u["deliveries"], 0);
    assert_eq!(u["peakConnections"], 0);
}

mod flushes {
    use crate::helpers::{Backend, spawn_app_with};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        if let Some(app) = spawn_app_with(Backend::Sqlite, super::fast_flush).await {
            super::counts_add_up_over_many_flushes(app).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = spawn_app_with(Backend::Postgres, super::fast_flush).await {
            super::counts_add_up_over_many_flushes(app).await;
        }
    }
}

/// Per-practice Prometheus series only when METRICS_PER_PRACTICE asks for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_practice_prometheus_series_are_opt_in() {
    for opted_in in [false, true] {
        let app =
            crate::helpers::spawn_app_with(Backend::Sqlite, |config| config.metering.metrics_per_practice = opted_in)
                .await
                .expect("SQLite is always there");
        let f = app.fixture().await;
        app.ok(&f.backoffice, PATIENT, json!({ "id": f.patient })).await;
        let text = app.http().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let line =
            format!("clinicstream_practice_operations_total{{practice_id=\"{}\",operation=\"QUERY\"}} 1", f.practice);
        assert_eq!(text.contains(&line), opted_in, "opted in: {opted_in}\n{text}");
        assert_eq!(text.contains("practice_id="), opted_in, "no per-practice label unless opted in");
    }
}

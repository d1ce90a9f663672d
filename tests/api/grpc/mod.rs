//! The gRPC door (`clinicstream.v1.Events/Subscribe` on `GRPC_LISTEN_ADDR`), through a
//! Python client generated with grpcio-tools from the checked-in .proto: a practice's
//! events in order, resumed with `after` with no gap or duplicate, the refusals' status
//! codes, a revoked key's stream closed, reflection and health; `codegen` keeps the
//! checked-in generated code equal to what the .proto generates.

mod client;
mod codegen;
mod metering;
mod patient;
mod refusals;

use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clinicstream::App;
use clinicstream::clock::SharedClock;
use clinicstream::events::MemoryBus;

use self::client::{Client, python};
use crate::helpers::{ADMIN_KEY, Backend, TestApp, fresh_db, test_config};
use crate::sse::last_cursor;

/// The app with its gRPC listener on a free port (None: the backend is unavailable), and
/// with `clock` when given (a bus of its own then, as `spawn_replica`).
pub(crate) async fn spawn_grpc(backend: Backend, clock: Option<SharedClock>) -> Option<(TestApp, SocketAddr)> {
    spawn_grpc_with(backend, clock, |_| {}).await
}

/// `spawn_grpc` with `adjust` applied to the settings.
pub(crate) async fn spawn_grpc_with(
    backend: Backend,
    clock: Option<SharedClock>,
    adjust: impl FnOnce(&mut clinicstream::Config),
) -> Option<(TestApp, SocketAddr)> {
    let db = fresh_db(backend).await?;
    let mut config = test_config(&db.url);
    config.grpc_listen_addr = Some("127.0.0.1:0".into());
    adjust(&mut config);
    let app = match clock {
        None => App::build(config).await.expect("app builds"),
        Some(clock) => {
            let conn = clinicstream::db::connect(&config.db).await.expect("database connects");
            let bus = Arc::new(MemoryBus::new(config.bus.bus_capacity));
            App::build_with(config, conn, bus, clock).await.expect("app builds")
        }
    };
    let grpc = app.grpc_addr().expect("GRPC_LISTEN_ADDR is bound");
    Some((TestApp::run(app, db), grpc))
}

async fn streams_in_order_and_resumes_with_no_gap_or_duplicate(backend: Backend) {
    let Some(python) = python() else { return };
    let Some((app, grpc)) = spawn_grpc(backend, None).await else { return };
    let f = app.fixture().await;
    let from_now = last_cursor(&app, &f.subscriber, &f.practice).await;
    let mut stream = Client::subscribe(&python, grpc, &f.subscriber, &f.practice, Some(&from_now), None).await;
    for cents in [100, 200, 300] {
        app.post_payment(&f.backoffice, &f.patient, cents).await;
    }
    let log = app
        .ok(
            &f.subscriber,
            "query($p: ID!) { events(practiceId: $p) { edges { cursor node { seq type occurredAt } } } }",
            json!({ "p": f.practice }),
        )
        .await;
    let edges = log["events"]["edges"].as_array().unwrap().clone();
    let mut last = String::new();
    for (expected, cents) in [(2, 100), (3, 200), (4, 300)] {
        let event = stream.event().await;
        let edge = &edges[expected as usize - 1];
        assert_eq!(event["seq"], expected, "in seq order: {event}");
        assert_eq!(event["type"], "PAYMENT_POSTED");
        assert_eq!(event["practice_id"], f.practice.as_str());
        assert_eq!(event["cursor"], edge["cursor"], "the same cursor as the log's");
        // The snapshot is the webhook body's `data`: the envelope, then the resource.
        let data = &event["data"];
        assert_eq!(data["cursor"], event["cursor"]);
        assert_eq!(data["seq"], expected);
        assert_eq!(data["type"], "PAYMENT_POSTED");
        assert_eq!(data["practiceId"], f.practice.as_str());
        assert_eq!(data["occurredAt"], event["occurred_at"]);
        assert_eq!(data["payment"]["amountCents"], cents, "{data}");
        last = event["cursor"].as_str().unwrap().to_string();
    }
    stream.close().await;
    for cents in [400, 500, 600] {
        app.post_payment(&f.backoffice, &f.patient, cents).await;
    }
    let mut resumed = Client::subscribe(&python, grpc, &f.subscriber, &f.practice, Some(&last), None).await;
    for expected in 5..=7 {
        assert_eq!(resumed.event().await["seq"], expected, "replayed from the log, in order");
    }
    app.post_payment(&f.backoffice, &f.patient, 700).await;
    assert_eq!(resumed.event().await["seq"], 8, "then live, nothing doubled or lost at the seam");
    assert!(resumed.line_within(Duration::from_millis(300)).await.is_err(), "nothing more");
    resumed.close().await;

    // `types` filters; the cursors stay the practice's.
    let mut patients =
        Client::subscribe(&python, grpc, &f.subscriber, &f.practice, Some(&last), Some("PATIENT_CREATED")).await;
    app.ok(
        &f.backoffice,
        "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"Ana\", lastName: \"Diaz\"}) { id } }",
        json!({ "p": f.practice }),
    )
    .await;
    let created = patients.event().await;
    assert_eq!((created["seq"].as_i64(), created["type"].as_str()), (Some(9), Some("PATIENT_CREATED")), "{created}");
    assert_eq!(created["data"]["patient"]["firstName"], "Ana");
    patients.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_streams_a_practices_events_in_order_and_resumes_with_no_gap_sqlite() {
    streams_in_order_and_resumes_with_no_gap_or_duplicate(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_streams_a_practices_events_in_order_and_resumes_with_no_gap_postgres() {
    streams_in_order_and_resumes_with_no_gap_or_duplicate(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_keys_stream_is_closed_with_unauthenticated() {
    let Some(python) = python() else { return };
    let Some((app, grpc)) = spawn_grpc(Backend::Sqlite, None).await else { return };
    let f = app.fixture().await;
    let created = app
        .ok(
            ADMIN_KEY,
            "mutation($p: ID!) { createApiKey(input: {practiceId: $p, role: SUBSCRIBER, name: \"feed\"}) { key apiKey { id } } }",
            json!({ "p": f.practice }),
        )
        .await;
    let (key, id) =
        (created["createApiKey"]["key"].as_str().unwrap(), created["createApiKey"]["apiKey"]["id"].as_str().unwrap());
    let from_now = last_cursor(&app, key, &f.practice).await;
    let mut stream = Client::subscribe(&python, grpc, key, &f.practice, Some(&from_now), None).await;
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    assert_eq!(stream.event().await["seq"], 2);
    app.ok(ADMIN_KEY, "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { revokedAt } }", json!({ "id": id })).await;
    let (code, details) = stream.status().await;
    assert_eq!(code, "UNAUTHENTICATED", "{details}");
    assert!(details.contains("no longer valid"), "{details}");
    // And the revoked key cannot open another.
    let mut again = Client::subscribe(&python, grpc, key, &f.practice, None, None).await;
    assert_eq!(again.status().await.0, "UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_service_and_health_says_serving() {
    let Some(python) = python() else { return };
    let Some((_app, grpc)) = spawn_grpc(Backend::Sqlite, None).await else { return };
    let (reflected, health) = Client::reflect(&python, grpc).await;
    let services = reflected["services"].as_array().unwrap();
    for service in ["clinicstream.v1.Events", "grpc.health.v1.Health"] {
        assert!(services.iter().any(|s| s == service), "{service} in {reflected}");
    }
    assert_eq!(reflected["subscribe"]["input"], "clinicstream.v1.SubscribeRequest");
    assert_eq!(reflected["subscribe"]["output"], "clinicstream.v1.Event");
    assert_eq!(
        reflected["subscribe"]["event_fields"],
        json!(["cursor", "seq", "type", "occurred_at", "practice_id", "data"])
    );
    assert_eq!(health, json!({ "health": "SERVING" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_server_ends_its_streams_with_unavailable() {
    let Some(python) = python() else { return };
    let Some((app, grpc)) = spawn_grpc(Backend::Sqlite, None).await else { return };
    let f = app.fixture().await;
    let from_now = last_cursor(&app, &f.subscriber, &f.practice).await;
    let mut stream = Client::subscribe(&python, grpc, &f.subscriber, &f.practice, Some(&from_now), None).await;
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    assert_eq!(stream.event().await["seq"], 2);
    app.stop().await;
    let (code, details) = stream.status().await;
    assert_eq!(code, "UNAVAILABLE", "{details}");
}

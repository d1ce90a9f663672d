//! Roles and tenancy: who may do what, and a practice never sees another's data or events.

use chrono::Utc;
use clinicstream::clock::{Clock, ManualClock};
use serde_json::json;
use std::sync::Arc;

use crate::helpers::{ADMIN_KEY, Backend, TestApp, code, fresh_db, spawn_replica};
use crate::on_both_backends;
use crate::ws_client::{LEGACY_WS, TRANSPORT_WS, WsClient};

on_both_backends!(another_practice_is_not_found_and_its_events_never_arrive);

/// On a clock the test moves, so that a key's expiry comes without waiting for it.
mod roles_are_enforced {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::on_a_manual_clock(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::on_a_manual_clock(Backend::Postgres).await;
    }
}

async fn on_a_manual_clock(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    let clock = Arc::new(ManualClock::new(Utc::now()));
    roles_are_enforced(spawn_replica(&db, clock.clone()).await, &clock).await;
}

async fn roles_are_enforced(app: TestApp, clock: &ManualClock) {
    let f = app.fixture().await;
    let query = "query($id: ID!) { patient(id: $id) { id } }";
    // No key, a bad key: UNAUTHENTICATED.
    assert_eq!(code(&app.gql(None, query, json!({ "id": f.patient })).await), "UNAUTHENTICATED");
    assert_eq!(code(&app.gql(Some("cs_not_a_real_key"), query, json!({ "id": f.patient })).await), "UNAUTHENTICATED");
    // SUBSCRIBER: reads, no mutations.
    app.ok(&f.subscriber, query, json!({ "id": f.patient })).await;
    let denied = app.post_payment(&f.subscriber, &f.patient, 100).await;
    assert_eq!(code(&denied), "FORBIDDEN");
    // BACKOFFICE: mutations of its practice, but no keys and no practices.
    assert!(app.post_payment(&f.backoffice, &f.patient, 100).await.get("errors").is_none());
    let key = app
        .gql(
            Some(&f.backoffice),
            "mutation($p: ID!) { createApiKey(input: {practiceId: $p, role: ADMIN, name: \"x\"}) { key } }",
            json!({ "p": f.practice }),
        )
        .await;
    assert_eq!(code(&key), "FORBIDDEN");
    let practice = app
        .gql(
            Some(&f.practice_admin),
            "mutation { createPractice(input: {name: \"X\", timezone: \"UTC\", currency: \"USD\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&practice), "FORBIDDEN", "only a global admin creates practices");
    assert_eq!(
        code(
            &app.gql(
                Some(&f.backoffice),
                "query($p: ID!) { apiKeys(practiceId: $p) { id } }",
                json!({ "p": f.practice })
            )
            .await
        ),
        "FORBIDDEN"
    );
    // A key's expiry is honoured.
    let expires_at = clock.now() + chrono::Duration::seconds(2);
    let expiring = app
        .ok(ADMIN_KEY, "mutation($p: ID!, $e: DateTime) { createApiKey(input: {practiceId: $p, role: SUBSCRIBER, name: \"soon\", expiresAt: $e}) { key } }",
            json!({ "p": f.practice, "e": expires_at.to_rfc3339() }))
        .await["createApiKey"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    app.ok(&expiring, query, json!({ "id": f.patient })).await;
    clock.set(expires_at + chrono::Duration::milliseconds(200));
    assert_eq!(code(&app.gql(Some(&expiring), query, json!({ "id": f.patient })).await), "UNAUTHENTICATED");
    // Websockets: a bad key is refused with 4403 after connection_init, on both protocols.
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut client = WsClient::open(app.addr, protocol).await;
        client.send(json!({ "type": "connection_init", "payload": { "authorization": "Bearer nope" } })).await;
        if protocol == LEGACY_WS {
            assert_eq!(client.recv().await.unwrap()["type"], "connection_error");
        }
        assert_eq!(client.closed().await, Some(4403), "{protocol}");
    }
}

async fn another_practice_is_not_found_and_its_events_never_arrive(app: TestApp) {
    let a = app.fixture().await;
    let b = app.fixture().await;
    for key in [&a.subscriber, &a.backoffice, &a.practice_admin] {
        for (query, id) in [
            ("query($id: ID!) { patient(id: $id) { id } }", &b.patient),
            ("query($id: ID!) { practice(id: $id) { id } }", &b.practice),
            ("query($id: ID!) { provider(id: $id) { id } }", &b.provider),
            ("query($id: ID!) { patients(practiceId: $id) { edges { node { id } } } }", &b.practice),
            ("query($id: ID!) { appointments(practiceId: $id) { edges { node { id } } } }", &b.practice),
            ("query($id: ID!) { payments(patientId: $id) { edges { node { id } } } }", &b.patient),
            ("query($id: ID!) { events(practiceId: $id) { edges { node { seq } } } }", &b.practice),
        ] {
            let body = app.gql(Some(key), query, json!({ "id": id })).await;
            assert_eq!(code(&body), "NOT_FOUND", "{query}: {body}");
            assert!(!body.to_string().contains("Lopez"), "no data leaks: {body}");
        }
    }
    let before = app.log(&b.practice).await;
    let foreign_payment = app.post_payment(&a.backoffice, &b.patient, 100).await;
    assert_eq!(code(&foreign_payment), "NOT_FOUND");
    assert_eq!(app.log(&b.practice).await, before, "nothing was appended to B");

    // A's subscriber cannot subscribe to B, and never receives B's events.
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &a.subscriber).await;
    client.subscribe("b", "subscription($p: ID!) { events(practiceId: $p) { seq } }", json!({ "p": b.practice })).await;
    let refused = client.recv().await.unwrap();
    assert_eq!(refused["id"], "b");
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");
    assert_eq!(client.recv().await.unwrap()["type"], "complete");
    client
        .subscribe(
            "a",
            "subscription($p: ID!) { events(practiceId: $p) { practiceId seq } }",
            json!({ "p": a.practice }),
        )
        .await;
    client.subscribe("sync", "{ __typename }", json!({})).await;
    client.next_data("sync").await;
    client.recv().await;
    app.post_payment(&b.backoffice, &b.patient, 100).await;
    app.post_payment(&a.backoffice, &a.patient, 100).await;
    let first = client.next_data("a").await;
    assert_eq!(first["data"]["events"]["practiceId"], a.practice.as_str());
    assert!(client.recv_within(std::time::Duration::from_millis(300)).await.is_none());
}

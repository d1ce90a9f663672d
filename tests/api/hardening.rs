//! Credentials on long-lived sockets, limits with the protocol's own answers, and error
//! hygiene.

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::helpers::{ADMIN_KEY, Backend, TestApp, code, fresh_db, spawn_app, spawn_app_with, spawn_replica};
use crate::replicas::subscriber;
use crate::ws_client::{LEGACY_WS, TRANSPORT_WS, WsClient};

async fn revoke(app: &TestApp, admin_key: &str, practice: &str, role: &str) {
    let keys = app
        .ok(admin_key, "query($p: ID!) { apiKeys(practiceId: $p) { id role revokedAt } }", json!({ "p": practice }))
        .await;
    let id = keys["apiKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == role && k["revokedAt"].is_null())
        .unwrap()["id"]
        .clone();
    app.ok(admin_key, "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { revokedAt } }", json!({ "id": id })).await;
}

/// Waits for the close code, returning it and how long it took.
async fn closed_within(client: &mut WsClient, limit: Duration) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let code = tokio::time::timeout(limit, client.closed()).await.ok().flatten();
    (code, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_key_closes_its_sockets_at_once_and_spares_others() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let mut modern = subscriber(&app, &f.backoffice, &f.practice, None).await;
    let mut legacy = WsClient::connect(app.addr, LEGACY_WS, &f.backoffice).await;
    let mut other = subscriber(&app, &f.subscriber, &f.practice, None).await;
    revoke(&app, &f.practice_admin, &f.practice, "BACKOFFICE").await;
    for client in [&mut modern, &mut legacy] {
        let (code, took) = closed_within(client, Duration::from_secs(2)).await;
        assert_eq!(code, Some(4403), "closed with 4403 Forbidden");
        assert!(took < Duration::from_secs(1), "within a second ({took:?})");
    }
    app.post_payment(&f.practice_admin, &f.patient, 1).await;
    assert_eq!(other.recv().await.expect("another key's socket lives on")["type"], "next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_another_replica_closes_sockets_here_within_a_second() {
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let a = spawn_replica(&db, Arc::new(clinicstream::clock::SystemClock)).await;
    let b = spawn_replica(&db, Arc::new(clinicstream::clock::SystemClock)).await;
    let f = a.fixture().await;
    let mut client = subscriber(&b, &f.subscriber, &f.practice, None).await;
    revoke(&a, ADMIN_KEY, &f.practice, "SUBSCRIBER").await;
    let (code, took) = closed_within(&mut client, Duration::from_secs(3)).await;
    assert_eq!(code, Some(4403));
    assert!(took < Duration::from_millis(1500), "the sweep closed it within about a second ({took:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_key_closes_its_sockets_when_it_expires() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let expires_at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let key = app
        .ok(ADMIN_KEY, "mutation($p: ID!, $e: DateTime) { createApiKey(input: {practiceId: $p, role: SUBSCRIBER, name: \"short\", expiresAt: $e}) { key } }", json!({ "p": f.practice, "e": expires_at.to_rfc3339() }))
        .await["createApiKey"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut client = subscriber(&app, &key, &f.practice, None).await;
    let (code, _) = closed_within(&mut client, Duration::from_secs(4)).await;
    assert_eq!(code, Some(4403));
    assert!(chrono::Utc::now() >= expires_at, "not before it expired");
    assert!(chrono::Utc::now() < expires_at + chrono::Duration::milliseconds(1500), "within about a second of expiry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_are_rate_limited_per_key() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.rate_limit_per_sec = 1;
        c.rate_limit_burst = 5;
    })
    .await
    else {
        return;
    };
    let f = app.fixture().await;
    // Spend the burst of the subscriber key, then one more.
    let mut status = 200;
    for _ in 0..20 {
        let response = app
            .http()
            .post(app.url("/graphql"))
            .bearer_auth(&f.subscriber)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap();
        status = response.status().as_u16();
        if status == 429 {
            assert_eq!(response.headers()["retry-after"], "1");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(code(&body), "RATE_LIMITED");
            break;
        }
    }
    assert_eq!(status, 429, "requests beyond the burst are refused");
    // Another key is not affected; the limited key's socket operations are refused too.
    app.ok(&f.backoffice, "{ __typename }", json!({})).await;
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    client.subscribe("1", "{ __typename }", json!({})).await;
    let refused = client.recv().await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_are_limited_in_operations_and_connections_per_key() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.ws_max_operations = 2;
        c.max_connections_per_key = 2;
    })
    .await
    else {
        return;
    };
    let f = app.fixture().await;
    let events = "subscription($p: ID!) { events(practiceId: $p) { seq } }";
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    client.subscribe("a", events, json!({ "p": f.practice })).await;
    client.subscribe("b", events, json!({ "p": f.practice })).await;
    client.subscribe("c", events, json!({ "p": f.practice })).await;
    let refused = client.recv().await.unwrap();
    assert_eq!((refused["id"].as_str(), refused["type"].as_str()), (Some("c"), Some("error")), "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    client.send(json!({ "id": "a", "type": "complete" })).await;
    // From the start of the log, so it sees the payment however fast that comes.
    let from_start = clinicstream::events::Cursor { practice_id: f.practice.clone(), seq: 1 }.encode();
    client
        .subscribe(
            "c",
            "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq } }",
            json!({ "p": f.practice, "a": from_start }),
        )
        .await;
    app.post_payment(&f.backoffice, &f.patient, 1).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(client.recv().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    ids.sort();
    assert_eq!(ids, ["b", "c"], "a freed slot can be used again");
    let _second = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    let mut third = WsClient::open(app.addr, TRANSPORT_WS).await;
    third
        .send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", f.subscriber) } }))
        .await;
    assert_eq!(third.closed().await, Some(4403), "a third connection of the key is refused");
    WsClient::connect(app.addr, TRANSPORT_WS, &f.backoffice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_say_nothing_but_a_correlation_id() {
    use sea_orm::ConnectionTrait;
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    // Break the database under the app: its queries now fail inside the driver.
    app.state().services.domain.db.execute_unprepared("DROP TABLE payments").await.unwrap();
    let body = app
        .gql(
            Some(&f.backoffice),
            "query($id: ID!) { payments(patientId: $id) { edges { cursor } } }",
            json!({ "id": f.patient }),
        )
        .await;
    assert_eq!(code(&body), "INTERNAL");
    assert_eq!(body["errors"][0]["message"], "internal error");
    assert!(body["errors"][0]["extensions"]["correlationId"].as_str().is_some_and(|c| c.len() >= 32));
    let text = body.to_string().to_lowercase();
    for leak in ["select", "sqlite", "table", "/tmp", ".rs", "dberr", "backtrace"] {
        assert!(!text.contains(leak), "the response leaks {leak:?}: {body}");
    }
    let failed = app.post_payment(&f.backoffice, &f.patient, 100).await;
    assert_eq!(code(&failed), "INTERNAL");
    let balance = app
        .ok(&f.backoffice, "query($id: ID!) { patient(id: $id) { balanceCents } }", json!({ "id": f.patient }))
        .await;
    assert_eq!(balance["patient"]["balanceCents"], 0, "the failed mutation changed nothing");
    assert_eq!(app.log(&f.practice).await.len(), 1, "and appended nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_can_replace_its_key_without_dropping_its_subscriptions() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let create = "mutation($p: ID!, $e: DateTime) { createApiKey(input: {practiceId: $p, role: SUBSCRIBER, name: \"rotating\", expiresAt: $e}) { key apiKey { id } } }";
    let expires_at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let old = app.ok(ADMIN_KEY, create, json!({ "p": f.practice, "e": expires_at.to_rfc3339() })).await;
    let new = app.ok(ADMIN_KEY, create, json!({ "p": f.practice, "e": null })).await;
    let (old_key, new_key) =
        (old["createApiKey"]["key"].as_str().unwrap(), new["createApiKey"]["key"].as_str().unwrap());
    let mut client = subscriber(&app, old_key, &f.practice, None).await;
    // A key of another practice is refused, over the socket too.
    let other = app.fixture().await;
    client
        .subscribe("r0", "mutation($k: String!) { refreshCredentials(key: $k) }", json!({ "k": other.subscriber }))
        .await;
    let refused = client.recv().await.unwrap();
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    client.recv().await; // its complete
    client
        .subscribe(
            "r1",
            "mutation($k: String!) { refreshCredentials(key: $k) }",
            json!({ "k": format!("Bearer {new_key}") }),
        )
        .await;
    let refreshed = client.recv().await.unwrap();
    assert_eq!(refreshed["payload"]["data"]["refreshCredentials"], true, "{refreshed}");
    client.recv().await; // its complete
    // Past the old key's expiry the socket stays open and its subscription keeps delivering.
    // timing: a negative check against the credential sweep, which runs on a real 1 s tick.
    tokio::time::sleep((expires_at - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(1300))
        .await;
    app.post_payment(&f.backoffice, &f.patient, 1).await;
    let event = client.recv().await.expect("the subscription survived the old key");
    assert_eq!(event["id"], "e");
    assert_eq!(event["payload"]["data"]["events"]["seq"], 2);
    // Over plain HTTP there is no connection to refresh.
    let http = app
        .gql(Some(&f.subscriber), "mutation($k: String!) { refreshCredentials(key: $k) }", json!({ "k": f.subscriber }))
        .await;
    assert_eq!(code(&http), "BAD_USER_INPUT");
    // The new key's revocation closes it.
    let id = new["createApiKey"]["apiKey"]["id"].clone();
    app.ok(ADMIN_KEY, "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { id } }", json!({ "id": id })).await;
    let (code, _) = closed_within(&mut client, Duration::from_secs(2)).await;
    assert_eq!(code, Some(4403));
}

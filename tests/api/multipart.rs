//! Apollo's multipart HTTP subscriptions: `{"payload": …}` parts per event, `{}`
//! heartbeats, resumable with `after`; request errors in a payload part; a revoked key and
//! a draining server end the stream with a transport error (`payload: null`).

use serde_json::json;

use crate::helpers::{ADMIN_KEY, TestApp, code};
use crate::multipart_client::{Next, Parts, post};
use crate::on_both_backends;
use crate::sse::last_cursor;

on_both_backends!(
    a_subscription_streams_payload_parts_after_a_heartbeat_and_resumes_with_after,
    a_revoked_key_ends_the_stream_with_a_transport_error
);

const PAYMENTS: &str = "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { cursor seq type } }";

async fn a_subscription_streams_payload_parts_after_a_heartbeat_and_resumes_with_after(app: TestApp) {
    let f = app.fixture().await;
    let from_now = last_cursor(&app, &f.subscriber, &f.practice).await;
    let mut parts = Parts::open(&app, &f.subscriber, PAYMENTS, json!({ "p": f.practice, "a": from_now })).await;
    assert!(matches!(parts.next().await, Next::Part(heartbeat) if heartbeat == json!({})), "a heartbeat at once");
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    app.post_payment(&f.backoffice, &f.patient, 200).await;
    let first = parts.next_payload().await;
    assert_eq!(first["payload"]["data"]["events"]["type"], "PAYMENT_POSTED", "{first}");
    let second = parts.next_payload().await;
    assert_eq!(
        second["payload"]["data"]["events"]["seq"].as_i64(),
        first["payload"]["data"]["events"]["seq"].as_i64().map(|s| s + 1)
    );
    drop(parts);
    // Resuming after the first event gets the second, exactly once, then live ones.
    let after = first["payload"]["data"]["events"]["cursor"].as_str().unwrap();
    let mut resumed = Parts::open(&app, &f.subscriber, PAYMENTS, json!({ "p": f.practice, "a": after })).await;
    let replayed = resumed.next_payload().await;
    assert_eq!(replayed["payload"]["data"]["events"]["seq"], second["payload"]["data"]["events"]["seq"]);
    app.post_payment(&f.backoffice, &f.patient, 300).await;
    let live = resumed.next_payload().await;
    assert_eq!(
        live["payload"]["data"]["events"]["seq"].as_i64(),
        replayed["payload"]["data"]["events"]["seq"].as_i64().map(|s| s + 1)
    );
}

async fn a_revoked_key_ends_the_stream_with_a_transport_error(app: TestApp) {
    let f = app.fixture().await;
    let created = app
        .ok(
            ADMIN_KEY,
            "mutation($p: ID!) { createApiKey(input: {practiceId: $p, role: SUBSCRIBER, name: \"kiosk\"}) { key apiKey { id } } }",
            json!({ "p": f.practice }),
        )
        .await;
    let (key, id) =
        (created["createApiKey"]["key"].as_str().unwrap(), created["createApiKey"]["apiKey"]["id"].as_str().unwrap());
    let mut parts = Parts::open(&app, key, PAYMENTS, json!({ "p": f.practice })).await;
    assert!(matches!(parts.next().await, Next::Part(_)));
    app.ok(ADMIN_KEY, "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { id } }", json!({ "id": id })).await;
    let ended = parts.next_payload().await;
    assert_eq!(ended["payload"], serde_json::Value::Null, "{ended}");
    assert_eq!(ended["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert!(matches!(parts.next().await, Next::Closed), "then the closing delimiter");
}

#[tokio::test]
async fn request_errors_come_in_a_payload_part_and_a_missing_key_is_401() {
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let mut parts =
        Parts::open(&app, &f.subscriber, "subscription { events(practiceId: \"x\") { nope } }", json!({})).await;
    let refused = parts.next_payload().await;
    assert_eq!(code(&refused["payload"]), "BAD_USER_INPUT", "{refused}");
    assert!(matches!(parts.next().await, Next::Closed));
    let anonymous = post(&app, None, PAYMENTS, json!({ "p": f.practice })).await;
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn a_draining_server_ends_the_stream_with_shutting_down() {
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let mut parts = Parts::open(&app, &f.subscriber, PAYMENTS, json!({ "p": f.practice })).await;
    assert!(matches!(parts.next().await, Next::Part(_)));
    app.state().shutdown.cancel();
    let ended = parts.next_payload().await;
    assert_eq!(ended["payload"], serde_json::Value::Null, "{ended}");
    assert_eq!(ended["errors"][0]["extensions"]["code"], "SHUTTING_DOWN");
}

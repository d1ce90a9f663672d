//! Live subscriptions over real websockets, both subprotocols.

use serde_json::json;

use crate::helpers::TestApp;
use crate::on_both_backends;
use crate::ws_client::{LEGACY_WS, TRANSPORT_WS, WsClient};

on_both_backends!(
    payment_posted_reaches_subscribers_on_both_subprotocols,
    filters_narrow_what_a_subscription_receives,
    an_event_is_rendered_once_per_distinct_operation
);

const PAYMENTS: &str = "subscription($p: ID!) { paymentPosted(practiceId: $p) { cursor seq type practiceId payment { amountCents method } patient { id balanceCents } } }";

async fn payment_posted_reaches_subscribers_on_both_subprotocols(app: TestApp) {
    let f = app.fixture().await;
    let mut modern = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    let mut legacy = WsClient::connect(app.addr, LEGACY_WS, &f.subscriber).await;
    modern.subscribe("1", PAYMENTS, json!({ "p": f.practice })).await;
    legacy.subscribe("1", PAYMENTS, json!({ "p": f.practice })).await;
    // Subscriptions are live once the server has processed them; a query on the same
    // socket is answered after, so its answer proves the subscription is in place.
    for client in [&mut modern, &mut legacy] {
        client.subscribe("sync", "{ __typename }", json!({})).await;
        let sync = client.next_data("sync").await;
        assert_eq!(sync["data"]["__typename"], "Query");
        assert_eq!(client.recv().await.unwrap()["type"], "complete");
    }
    app.post_payment(&f.backoffice, &f.patient, 2500).await;
    for client in [&mut modern, &mut legacy] {
        let payload = client.next_data("1").await;
        let event = &payload["data"]["paymentPosted"];
        assert_eq!(event["type"], "PAYMENT_POSTED", "{payload}");
        assert_eq!(event["practiceId"], f.practice.as_str());
        assert_eq!(event["payment"]["amountCents"], 2500);
        assert_eq!(event["patient"]["balanceCents"], -2500);
        assert_eq!(event["seq"], 2, "seq 1 was the fixture's PATIENT_CREATED");
        assert!(event["cursor"].as_str().is_some_and(|c| !c.is_empty()));
    }
    // Completing stops delivery: transport-ws sends nothing back, legacy confirms.
    modern.send(json!({ "id": "1", "type": "complete" })).await;
    legacy.send(json!({ "id": "1", "type": "stop" })).await;
    assert_eq!(legacy.recv().await.unwrap()["type"], "complete");
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    assert!(modern.recv_within(std::time::Duration::from_millis(300)).await.is_none());
}

async fn filters_narrow_what_a_subscription_receives(app: TestApp) {
    let f = app.fixture().await;
    let other_provider = app
        .ok(
            &f.backoffice,
            "mutation($p: ID!) { createProvider(input: {practiceId: $p, name: \"Sam Lee\", kind: HYGIENIST}) { id } }",
            json!({ "p": f.practice }),
        )
        .await["createProvider"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    client
        .subscribe(
            "sam",
            "subscription($p: ID!, $pr: ID) { appointmentScheduled(practiceId: $p, providerId: $pr) { seq appointment { provider { id } } } }",
            json!({ "p": f.practice, "pr": other_provider }),
        )
        .await;
    client
        .subscribe(
            "types",
            "subscription($p: ID!) { events(practiceId: $p, types: [APPOINTMENT_SCHEDULED]) { seq type } }",
            json!({ "p": f.practice }),
        )
        .await;
    client.subscribe("sync", "{ __typename }", json!({})).await;
    client.next_data("sync").await;
    client.recv().await;
    let schedule = "mutation($pt: ID!, $pr: ID!, $at: DateTime!) { scheduleAppointment(input: {patientId: $pt, providerId: $pr, startsAt: $at, durationMinutes: 30}) { id } }";
    app.ok(&f.backoffice, schedule, json!({ "pt": f.patient, "pr": f.provider, "at": "2030-03-01T09:00:00Z" })).await;
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    app.ok(&f.backoffice, schedule, json!({ "pt": f.patient, "pr": other_provider, "at": "2030-03-01T09:00:00Z" }))
        .await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let message = client.recv().await.expect("three deliveries");
        seen.push((message["id"].as_str().unwrap().to_string(), message["payload"]["data"].clone()));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen[0].0, "sam");
    assert_eq!(seen[0].1["appointmentScheduled"]["appointment"]["provider"]["id"], other_provider.as_str());
    assert_eq!(seen[0].1["appointmentScheduled"]["seq"], 4);
    assert_eq!(seen[1].1["events"]["seq"], 2);
    assert_eq!(seen[2].1["events"]["seq"], 4);
    assert!(client.recv_within(std::time::Duration::from_millis(300)).await.is_none(), "the payment matched neither");
}

/// Subscribers that sent the same operation share one execution and one serialised result
/// per event (whatever their protocol); an alias or a variable that changes the result
/// gets its own.
async fn an_event_is_rendered_once_per_distinct_operation(app: TestApp) {
    let f = app.fixture().await;
    let query = "subscription($p: ID!, $full: Boolean!) { events(practiceId: $p) { seq \
                 ... on PaymentEvent { payment @include(if: $full) { amountCents } } } }";
    let aliased = "subscription($p: ID!, $full: Boolean!) { e: events(practiceId: $p) { seq \
                   ... on PaymentEvent { payment @include(if: $full) { amountCents } } } }";
    let full = json!({ "p": f.practice, "full": true });
    let mut clients = Vec::new();
    for (protocol, query, variables) in [
        (TRANSPORT_WS, query, full.clone()),
        (TRANSPORT_WS, query, full.clone()),
        (LEGACY_WS, query, full.clone()),
        (TRANSPORT_WS, aliased, full.clone()),
        (TRANSPORT_WS, query, json!({ "p": f.practice, "full": false })),
    ] {
        let mut client = WsClient::connect(app.addr, protocol, &f.subscriber).await;
        client.subscribe("1", query, variables).await;
        client.subscribe("sync", "{ __typename }", json!({})).await;
        client.next_data("sync").await;
        client.recv().await;
        clients.push(client);
    }
    app.post_payment(&f.backoffice, &f.patient, 700).await;
    let mut payloads = Vec::new();
    for client in &mut clients {
        payloads.push(client.next_data("1").await);
    }
    let shared = json!({ "data": { "events": { "seq": 2, "payment": { "amountCents": 700 } } } });
    assert_eq!(payloads[0], shared);
    assert_eq!(payloads[1], shared);
    assert_eq!(payloads[2], shared, "legacy `data` carries the same result");
    assert_eq!(payloads[3], json!({ "data": { "e": { "seq": 2, "payment": { "amountCents": 700 } } } }));
    assert_eq!(payloads[4], json!({ "data": { "events": { "seq": 2 } } }), "the variable changes the result");
    // Three distinct operations, one event: three executions for five subscribers.
    assert_eq!(app.state().services.domain.counters.shared_executions.get(), 3);
    assert_eq!(app.state().services.domain.counters.shared_operations.get(), 3);
}

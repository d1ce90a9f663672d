//! The delivery plane: subscriptions are registrations in their practice's hub, and each
//! distinct operation (document, variables, caller scope) runs once per event however many
//! subscribers share it, while every subscriber keeps its own start, replay and catch-up.

use serde_json::{Value, json};
use std::time::Duration;

use clinicstream::events::{Cursor, StreamTransport};

use crate::helpers::{ADMIN_KEY, Backend, TestApp, spawn_app_with, until};
use crate::on_both_backends;
use crate::ws_client::{LEGACY_WS, TRANSPORT_WS, WsClient};

on_both_backends!(
    identical_subscriptions_share_one_execution_per_event,
    callers_who_may_see_different_answers_never_share,
    a_subscriber_joining_a_running_operation_starts_where_it_asked,
    unsubscribing_frees_the_registration_and_the_operation
);

const EVENTS: &str = "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq cursor } }";
/// Wide enough that a few hundred results fill a socket's buffers.
const WIDE: &str = "subscription($p: ID!) { events(practiceId: $p) { seq cursor type occurredAt practiceId \
    ... on PaymentEvent { payment { id patientId practiceId amountCents method reference postedAt } \
    patient { id firstName lastName email phone balanceCents createdAt } } } }";

fn operations(app: &TestApp) -> i64 {
    app.state().services.domain.counters.shared_operations.get()
}

fn executions(app: &TestApp) -> u64 {
    app.state().services.domain.counters.shared_executions.get()
}

async fn wait_registered(app: &TestApp, n: i64) {
    crate::waits::wait_subscribed(app, StreamTransport::Websocket, n).await;
}

fn seq(payload: &Value) -> i64 {
    payload["data"]["events"]["seq"].as_i64().unwrap_or_else(|| panic!("an event: {payload}"))
}

async fn identical_subscriptions_share_one_execution_per_event(app: TestApp) {
    let f = app.fixture().await;
    let mut clients = Vec::new();
    for i in 0..10 {
        let protocol = if i % 2 == 0 { TRANSPORT_WS } else { LEGACY_WS };
        let mut client = WsClient::connect(app.addr, protocol, &f.subscriber).await;
        client.subscribe("s", EVENTS, json!({ "p": f.practice })).await;
        clients.push(client);
    }
    wait_registered(&app, 10).await;
    assert_eq!(operations(&app), 1, "ten subscribers, one operation");
    for _ in 0..3 {
        app.post_payment(&f.backoffice, &f.patient, 100).await;
    }
    for client in &mut clients {
        let got: Vec<i64> = [client.next_data("s").await, client.next_data("s").await, client.next_data("s").await]
            .iter()
            .map(seq)
            .collect();
        assert_eq!(got, [2, 3, 4]);
    }
    assert_eq!(executions(&app), 3, "three events, each executed once for ten subscribers");
}

async fn callers_who_may_see_different_answers_never_share(app: TestApp) {
    let f = app.fixture().await;
    let other = app.fixture().await;
    // The same document and variables under four scopes: four executions.
    let mut clients = Vec::new();
    for key in [&f.subscriber, &f.backoffice, &f.practice_admin, &ADMIN_KEY.to_string()] {
        let mut client = WsClient::connect(app.addr, TRANSPORT_WS, key).await;
        client.subscribe("s", EVENTS, json!({ "p": f.practice })).await;
        clients.push(client);
    }
    // Another practice's subscriber asking for this practice is refused, and joins nothing.
    let mut intruder = WsClient::connect(app.addr, TRANSPORT_WS, &other.subscriber).await;
    intruder.subscribe("s", EVENTS, json!({ "p": f.practice })).await;
    let refused = intruder.next_data("s").await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");
    assert_eq!(intruder.recv().await.unwrap()["type"], "complete");
    let mut own = WsClient::connect(app.addr, TRANSPORT_WS, &other.subscriber).await;
    own.subscribe("s", EVENTS, json!({ "p": other.practice })).await;
    wait_registered(&app, 5).await;
    assert_eq!(operations(&app), 5, "one per scope and practice");
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    for client in &mut clients {
        let payload = client.next_data("s").await;
        assert_eq!(seq(&payload), 2);
        let cursor = Cursor::decode(payload["data"]["events"]["cursor"].as_str().unwrap()).unwrap();
        assert_eq!(cursor.practice_id, f.practice);
    }
    assert_eq!(executions(&app), 4);
    assert!(own.recv_within(Duration::from_millis(300)).await.is_none(), "another practice's event never arrives");
    app.post_payment(&other.backoffice, &other.patient, 100).await;
    let payload = own.next_data("s").await;
    assert_eq!(
        Cursor::decode(payload["data"]["events"]["cursor"].as_str().unwrap()).unwrap().practice_id,
        other.practice
    );
    for client in &mut clients {
        assert!(client.recv_within(Duration::from_millis(100)).await.is_none());
    }
}

async fn a_subscriber_joining_a_running_operation_starts_where_it_asked(app: TestApp) {
    let f = app.fixture().await;
    let mut first = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    first.subscribe("s", EVENTS, json!({ "p": f.practice, "a": null })).await;
    wait_registered(&app, 1).await;
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    let two = first.next_data("s").await;
    assert_eq!(seq(&two), 2);
    assert_eq!(seq(&first.next_data("s").await), 3);
    // One joins from now on, one resumes after seq 2: the same operation for all three.
    let mut fresh = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    fresh.subscribe("s", EVENTS, json!({ "p": f.practice, "a": null })).await;
    let mut resumed = WsClient::connect(app.addr, LEGACY_WS, &f.subscriber).await;
    resumed.subscribe("s", EVENTS, json!({ "p": f.practice, "a": two["data"]["events"]["cursor"] })).await;
    wait_registered(&app, 3).await;
    assert_eq!(operations(&app), 1);
    assert_eq!(seq(&resumed.next_data("s").await), 3, "the replay after its cursor");
    assert!(fresh.recv_within(Duration::from_millis(200)).await.is_none(), "nothing from before it joined");
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    for client in [&mut first, &mut fresh, &mut resumed] {
        assert_eq!(seq(&client.next_data("s").await), 4);
        assert!(client.recv_within(Duration::from_millis(100)).await.is_none(), "no duplicate at the seam");
    }
    // The replayed seq 3 reused the operation's result for it.
    assert_eq!(executions(&app), 3);
}

async fn unsubscribing_frees_the_registration_and_the_operation(app: TestApp) {
    let f = app.fixture().await;
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    client.subscribe("a", EVENTS, json!({ "p": f.practice })).await;
    client.subscribe("b", EVENTS, json!({ "p": f.practice })).await;
    wait_registered(&app, 2).await;
    assert_eq!(app.state().hubs.practices(), 1);
    client.send(json!({ "id": "a", "type": "complete" })).await;
    wait_registered(&app, 1).await;
    assert_eq!(operations(&app), 1);
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    let message = client.recv().await.unwrap();
    assert_eq!(message["id"], "b", "only the remaining subscription: {message}");
    assert!(client.recv_within(Duration::from_millis(200)).await.is_none());
    // The id is free again, and starts afresh.
    client.subscribe("a", EVENTS, json!({ "p": f.practice })).await;
    wait_registered(&app, 2).await;
    client.close().await;
    wait_registered(&app, 0).await;
    assert!(until(Duration::from_secs(5), || operations(&app) == 0).await, "the operation is dropped");
    assert!(until(Duration::from_secs(5), || app.state().hubs.practices() == 0).await, "an idle hub goes");
}

/// Posts `n` payments one after another.
async fn pay(app: &TestApp, key: &str, patient: &str, n: usize) {
    for _ in 0..n {
        let body = app.post_payment(key, patient, 1).await;
        assert!(body["errors"].is_null(), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_past_its_byte_bound_catches_up_from_the_log() {
    const N: i64 = 100;
    const SUBS: usize = 30;
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| c.outbound_max_bytes = 8 * 1024).await else { return };
    let f = app.fixture().await;
    let mut slow = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    for i in 0..SUBS {
        slow.subscribe(&format!("s{i}"), WIDE, json!({ "p": f.practice })).await;
    }
    let mut fast = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    fast.subscribe("f", WIDE, json!({ "p": f.practice })).await;
    wait_registered(&app, SUBS as i64 + 1).await;
    pay(&app, &f.backoffice, &f.patient, N as usize).await;
    // The fast one is not held up by the slow one, which reads nothing yet.
    for expected in 2..=N + 1 {
        assert_eq!(seq(&fast.next_data("f").await), expected);
    }
    let catch_ups = app.state().services.domain.counters.lag_catch_ups.get();
    assert!(catch_ups >= 1, "the slow socket went past its bound and was moved to the log");
    let mut got: Vec<Vec<i64>> = vec![Vec::new(); SUBS];
    while got.iter().any(|seqs| seqs.len() < N as usize) {
        let message = slow.recv_within(Duration::from_secs(15)).await.expect("the slow one catches up");
        let id: usize = message["id"].as_str().unwrap()[1..].parse().unwrap();
        got[id].push(seq(&message["payload"]));
    }
    for seqs in got {
        assert_eq!(seqs, (2..=N + 1).collect::<Vec<_>>(), "every event once, in order");
    }
    assert!(slow.recv_within(Duration::from_millis(300)).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_stops_reading_is_closed_with_its_resume_cursor() {
    const SUBS: usize = 30;
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.outbound_max_bytes = 8 * 1024;
        c.slow_consumer_timeout_secs = 1;
    })
    .await
    else {
        return;
    };
    let f = app.fixture().await;
    let mut slow = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    for i in 0..SUBS {
        slow.subscribe(&format!("s{i}"), WIDE, json!({ "p": f.practice })).await;
    }
    wait_registered(&app, SUBS as i64).await;
    let slow_consumers = || app.state().services.domain.counters.slow_consumers.get();
    let mut posted = 0;
    while slow_consumers() == 0 && posted < 2000 {
        pay(&app, &f.backoffice, &f.patient, 10).await;
        posted += 10;
    }
    assert_eq!(slow_consumers(), 1, "closed after {posted} payments");
    // What was written still arrives, then the close, naming where each can resume.
    let mut last = vec![1; SUBS];
    while let Some(message) = slow.recv_within(Duration::from_secs(5)).await {
        let id: usize = message["id"].as_str().unwrap()[1..].parse().unwrap();
        let seq = seq(&message["payload"]);
        assert_eq!(seq, last[id] + 1, "in order, none skipped");
        last[id] = seq;
    }
    assert_eq!(slow.closed().await, Some(1013));
    let reason = slow.close_reason.clone().expect("a reason");
    let resume = reason.strip_prefix("Slow consumer; resume ").unwrap_or_else(|| panic!("{reason}"));
    for part in resume.split(' ') {
        let (id, cursor) = part.split_once('=').unwrap();
        let id: usize = id[1..].parse().unwrap();
        let cursor = Cursor::decode(cursor).unwrap();
        assert_eq!(cursor.practice_id, f.practice);
        assert_eq!(cursor.seq, last[id], "the cursor of the last event it got");
    }
}

/// Takes every free turn to start a subscription (a storm's starts, held).
async fn take_every_turn(app: &TestApp) -> Vec<clinicstream::hub::Turn> {
    let mut turns = Vec::new();
    while let Ok(turn) = tokio::time::timeout(Duration::from_millis(100), app.state().hubs.turn()).await {
        turns.push(turn);
    }
    turns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_waits_for_its_turn_while_a_query_does_not() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}).await else { return };
    let f = app.fixture().await;
    let turns = take_every_turn(&app).await;
    assert!(!turns.is_empty(), "the replica has turns to give");
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    client.subscribe("gone", EVENTS, json!({ "p": f.practice })).await;
    client.subscribe("s", EVENTS, json!({ "p": f.practice })).await;
    client.subscribe("q", "{ __typename }", json!({})).await;
    let answer = client.recv_within(Duration::from_secs(5)).await.expect("a query needs no turn");
    assert_eq!((answer["id"].as_str(), answer["type"].as_str()), (Some("q"), Some("next")), "{answer}");
    assert_eq!(client.recv_within(Duration::from_secs(5)).await.unwrap()["type"], "complete");
    // One given up while it waits is let go of, its turn never taken.
    client.send(json!({ "id": "gone", "type": "complete" })).await;
    assert!(client.recv_within(Duration::from_millis(300)).await.is_none());
    // So is every one of a socket that goes while they wait.
    let mut gone = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    for i in 0..5 {
        gone.subscribe(&format!("w{i}"), EVENTS, json!({ "p": f.practice })).await;
    }
    gone.close().await;
    assert_eq!(app.state().services.domain.counters.shared_operations.get(), 0, "nothing started yet");
    let held = turns.len();
    drop(turns);
    wait_registered(&app, 1).await;
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    let message = client.recv().await.unwrap();
    assert_eq!(message["id"], "s", "only the subscription still wanted: {message}");
    assert!(client.recv_within(Duration::from_millis(300)).await.is_none());
    assert_eq!(take_every_turn(&app).await.len(), held, "every turn came back once its start was made");
}

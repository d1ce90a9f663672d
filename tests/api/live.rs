//! Live queries (`query @live`) over real websockets, SSE and multipart HTTP: the result at
//! once, a new one only when an event changes it, shared by identical queries, coalesced
//! under bursts with the last state always delivered, resumable from a revision.

use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::{ADMIN_KEY, Backend, TestApp, spawn_app, spawn_app_with};
use crate::multipart_client::Parts;
use crate::on_both_backends;
use crate::sse_client::SseStream;
use crate::ws_client::{LEGACY_WS, TRANSPORT_WS, WsClient};

on_both_backends!(
    a_live_query_answers_at_once_and_again_only_when_an_event_changes_it,
    identical_live_queries_share_one_execution_per_change,
    a_burst_is_coalesced_and_its_last_state_always_arrives,
    a_client_resuming_from_its_revision_gets_the_result_only_if_it_changed
);

const BALANCE: &str = "query($id: ID!) @live { patient(id: $id) { firstName balanceCents } }";
const QUIET: Duration = Duration::from_millis(400);

/// Starts a live query with request extensions, in the client's protocol.
async fn live(client: &mut WsClient, id: &str, query: &str, variables: Value, extensions: Value) {
    let kind = if client.protocol == LEGACY_WS { "start" } else { "subscribe" };
    let payload = json!({ "query": query, "variables": variables, "extensions": extensions });
    client.send(json!({ "id": id, "type": kind, "payload": payload })).await;
}

fn balance(payload: &Value) -> i64 {
    payload["data"]["patient"]["balanceCents"].as_i64().unwrap_or_else(|| panic!("a balance in {payload}"))
}

fn revision(payload: &Value) -> i64 {
    payload["extensions"]["revision"].as_i64().unwrap_or_else(|| panic!("a revision in {payload}"))
}

fn executions(app: &TestApp) -> i64 {
    app.state().services.domain.counters.live_executions.get() as i64
}

async fn new_patient(app: &TestApp, key: &str, practice: &str) -> String {
    let query =
        "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"Ines\", lastName: \"Ito\"}) { id } }";
    app.ok(key, query, json!({ "p": practice })).await["createPatient"]["id"].as_str().unwrap().to_string()
}

async fn a_live_query_answers_at_once_and_again_only_when_an_event_changes_it(app: TestApp) {
    let f = app.fixture().await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut client = WsClient::connect(app.addr, protocol, &f.subscriber).await;
        live(&mut client, "b", BALANCE, json!({ "id": f.patient }), json!({})).await;
        let first = client.next_data("b").await;
        assert_eq!(first["data"]["patient"]["firstName"], "Maria", "{first}");
        assert!(!first.to_string().contains("__live"), "the private selections are taken out: {first}");
        let before = revision(&first);
        let paid = balance(&first) - 2500;
        app.post_payment(&f.backoffice, &f.patient, 2500).await;
        let next = client.next_data("b").await;
        assert_eq!(balance(&next), paid);
        assert!(revision(&next) > before, "{next}");
        // Another patient of the practice, and another practice: nothing is sent, and
        // nothing is even executed again.
        let ran = executions(&app);
        let other = new_patient(&app, &f.backoffice, &f.practice).await;
        app.post_payment(&f.backoffice, &other, 100).await;
        let g = app.fixture().await;
        app.post_payment(&g.backoffice, &g.patient, 100).await;
        assert!(client.recv_within(QUIET).await.is_none(), "no result for unrelated events");
        assert_eq!(executions(&app), ran, "unrelated events re-execute nothing");
        // Completing it stops it.
        let stop = if protocol == LEGACY_WS { "stop" } else { "complete" };
        client.send(json!({ "id": "b", "type": stop })).await;
        if protocol == LEGACY_WS {
            assert_eq!(client.recv().await.unwrap()["type"], "complete");
        }
        app.post_payment(&f.backoffice, &f.patient, 1).await;
        assert!(client.recv_within(QUIET).await.is_none(), "a stopped live query sends nothing");
    }
}

async fn identical_live_queries_share_one_execution_per_change(app: TestApp) {
    let f = app.fixture().await;
    let other = new_patient(&app, &f.backoffice, &f.practice).await;
    let mut same = Vec::new();
    for _ in 0..3 {
        let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
        live(&mut client, "b", BALANCE, json!({ "id": f.patient }), json!({})).await;
        client.next_data("b").await;
        same.push(client);
    }
    let mut apart = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    live(&mut apart, "b", BALANCE, json!({ "id": other }), json!({})).await;
    apart.next_data("b").await;
    assert_eq!(app.state().services.domain.counters.live_queries.get(), 2, "two distinct live queries");
    let ran = executions(&app);
    app.post_payment(&f.backoffice, &f.patient, 700).await;
    let mut results = Vec::new();
    for client in &mut same {
        results.push(client.next_data("b").await);
    }
    assert!(results.iter().all(|r| r == &results[0]), "the same bytes for all: {results:?}");
    assert!(apart.recv_within(QUIET).await.is_none());
    assert_eq!(executions(&app) - ran, 1, "one execution for three subscribers, none for the other patient's");
}

async fn a_burst_is_coalesced_and_its_last_state_always_arrives(app: TestApp) {
    const PAYMENTS: i64 = 15;
    let f = app.fixture().await;
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    let query = "query($id: ID!) @live(throttle: 400) { patient(id: $id) { balanceCents } }";
    live(&mut client, "b", query, json!({ "id": f.patient }), json!({})).await;
    let start = balance(&client.next_data("b").await);
    let ran = executions(&app);
    let mut writes = Vec::new();
    for _ in 0..PAYMENTS {
        writes.push(app.post_payment(&f.backoffice, &f.patient, 100));
    }
    futures_util::future::join_all(writes).await;
    let last = start - 100 * PAYMENTS;
    let mut results = Vec::new();
    while results.last().map(balance) != Some(last) {
        let payload = client.next_data("b").await;
        if let Some(previous) = results.last() {
            assert!(revision(&payload) > revision(previous), "revisions only grow");
        }
        results.push(payload);
    }
    assert!(results.len() < PAYMENTS as usize, "{} results for {PAYMENTS} changes", results.len());
    assert!(executions(&app) - ran < PAYMENTS, "the burst was not executed once per change");
    assert!(client.recv_within(Duration::from_millis(900)).await.is_none(), "nothing after the last state");
}

async fn a_client_resuming_from_its_revision_gets_the_result_only_if_it_changed(app: TestApp) {
    let f = app.fixture().await;
    let vars = json!({ "id": f.patient });
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    live(&mut client, "b", BALANCE, vars.clone(), json!({})).await;
    let seen = revision(&client.next_data("b").await);
    client.close().await;
    let resume = |after: i64| json!({ "after": after });
    // Nothing happened: nothing is sent.
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    live(&mut client, "b", BALANCE, vars.clone(), resume(seen)).await;
    assert!(client.recv_within(QUIET).await.is_none(), "nothing changed since {seen}");
    client.close().await;
    // Only other resources changed (checked against the log): still nothing.
    let other = new_patient(&app, &f.backoffice, &f.practice).await;
    app.post_payment(&f.backoffice, &other, 100).await;
    let retired = crate::helpers::until(Duration::from_secs(5), || app.state().hubs.practices() == 0).await;
    assert!(retired, "the hub of the closed client retires");
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    live(&mut client, "b", BALANCE, vars.clone(), resume(seen)).await;
    assert!(client.recv_within(QUIET).await.is_none(), "the events since {seen} do not touch this patient");
    // This patient changed: the current result at once, then on as usual.
    app.post_payment(&f.backoffice, &f.patient, 300).await;
    let changed = client.next_data("b").await;
    client.close().await;
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    live(&mut client, "b", BALANCE, vars.clone(), resume(seen)).await;
    let current = client.next_data("b").await;
    assert_eq!(balance(&current), balance(&changed));
    assert!(revision(&current) > seen);
    // A revision that is not one is refused.
    live(&mut client, "x", BALANCE, vars, json!({ "after": "yesterday" })).await;
    let refused = client.recv().await.unwrap();
    assert!(refused.to_string().contains("extensions.after"), "{refused}");
}

/// The errors a single-response operation got on a graphql-transport-ws socket.
async fn errors_of(client: &mut WsClient, id: &str) -> Value {
    let message = client.recv().await.expect("an answer");
    assert_eq!(message["id"], id, "{message}");
    match message["type"].as_str() {
        Some("error") => message["payload"].clone(),
        _ => message["payload"]["errors"].clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_live_is_refused_with_a_reason() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let g = app.fixture().await;
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.backoffice).await;
    let cases = [
        (
            "m",
            "mutation @live { postPayment(input: {patientId: \"x\", amountCents: 1, method: CARD}) { id } }",
            "MUTATION",
        ),
        ("s", "subscription @live { paymentPosted(practiceId: \"x\") { seq } }", "SUBSCRIPTION"),
        ("k", "query($p: ID!) @live { apiKeys(practiceId: $p) { id } }", "changes without an event"),
        ("t", "query($p: ID!) @live(throttle: -5) { patients(practiceId: $p) { edges { cursor } } }", "throttle"),
    ];
    for (id, query, why) in cases {
        live(&mut client, id, query, json!({ "p": f.practice }), json!({})).await;
        let errors = errors_of(&mut client, id).await;
        assert!(errors.to_string().contains(why), "{id}: {errors}");
        assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{id}: {errors}");
    }
    live(&mut client, "p", BALANCE, json!({ "id": f.patient }), json!({ "livePatch": "rfc6902" })).await;
    assert!(errors_of(&mut client, "p").await.to_string().contains("jsondiffpatch"));
    // Another practice's patient is NOT_FOUND, as for the plain query.
    live(&mut client, "o", BALANCE, json!({ "id": g.patient }), json!({})).await;
    let errors = errors_of(&mut client, "o").await;
    assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{errors}");
    // An admin's live query must follow one practice.
    let mut admin = WsClient::connect(app.addr, TRANSPORT_WS, ADMIN_KEY).await;
    let two = "query($a: ID!, $b: ID!) @live { a: patient(id: $a) { id } b: patient(id: $b) { id } }";
    live(&mut admin, "two", two, json!({ "a": f.patient, "b": g.patient }), json!({})).await;
    assert!(errors_of(&mut admin, "two").await.to_string().contains("one practice"));
    // …and one that does is served.
    live(&mut admin, "one", BALANCE, json!({ "id": g.patient }), json!({})).await;
    assert_eq!(admin.next_data("one").await["data"]["patient"]["firstName"], "Maria");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_key_closes_its_live_queries() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.backoffice).await;
    live(&mut client, "b", BALANCE, json!({ "id": f.patient }), json!({})).await;
    client.next_data("b").await;
    let keys = app
        .ok(&f.practice_admin, "query($p: ID!) { apiKeys(practiceId: $p) { id role } }", json!({ "p": f.practice }))
        .await;
    let id = keys["apiKeys"].as_array().unwrap().iter().find(|k| k["role"] == "BACKOFFICE").unwrap()["id"].clone();
    app.ok(
        &f.practice_admin,
        "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { revokedAt } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(client.closed().await, Some(4403));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_carries_the_revision_as_its_id_and_resumes_from_last_event_id() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let vars = json!({ "id": f.patient });
    let mut stream = SseStream::open(&app, &f.subscriber, BALANCE, vars.clone(), None).await;
    let (id, first) = stream.next_data().await;
    assert_eq!(id, Some(revision(&first).to_string()), "{first}");
    app.post_payment(&f.backoffice, &f.patient, 900).await;
    let (id, next) = stream.next_data().await;
    assert_eq!(balance(&next), balance(&first) - 900);
    let seen = id.expect("an id");
    drop(stream);
    let mut stream = SseStream::open(&app, &f.subscriber, BALANCE, vars.clone(), Some(&seen)).await;
    assert!(stream.next_within(QUIET).await.is_err(), "nothing changed since {seen}");
    drop(stream);
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    let mut stream = SseStream::open(&app, &f.subscriber, BALANCE, vars, Some(&seen)).await;
    let (id, current) = stream.next_data().await;
    assert_eq!(balance(&current), balance(&next) - 100);
    assert!(id.unwrap().parse::<i64>().unwrap() > seen.parse().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_http_streams_a_live_query() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let mut stream = Parts::open(&app, &f.subscriber, BALANCE, json!({ "id": f.patient })).await;
    let first = stream.next_payload().await["payload"].clone();
    app.post_payment(&f.backoffice, &f.patient, 400).await;
    let next = stream.next_payload().await["payload"].clone();
    assert_eq!(balance(&next), balance(&first) - 400);
    assert!(revision(&next) > revision(&first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_skips_to_the_current_state() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| c.outbound_max_bytes = 256).await else { return };
    let f = app.fixture().await;
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    let query = "query($id: ID!) @live(throttle: 0) { patient(id: $id) { balanceCents } }";
    live(&mut client, "b", query, json!({ "id": f.patient }), json!({})).await;
    let start = balance(&client.next_data("b").await);
    for _ in 0..30 {
        app.post_payment(&f.backoffice, &f.patient, 10).await;
    }
    let mut last = None;
    while let Some(message) = client.recv_within(Duration::from_secs(2)).await {
        last = Some(balance(&message["payload"]));
    }
    assert_eq!(last, Some(start - 300), "the final state arrives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_written_on_one_replica_updates_live_queries_on_another() {
    let Some(redis) = crate::redis_server::shared() else { return };
    let Some(replicas) = crate::helpers::spawn_replicas(2, &redis, |_| {}).await else { return };
    let f = replicas[0].fixture().await;
    let mut client = WsClient::connect(replicas[1].addr, TRANSPORT_WS, &f.subscriber).await;
    live(&mut client, "b", BALANCE, json!({ "id": f.patient }), json!({})).await;
    let first = client.next_data("b").await;
    replicas[0].post_payment(&f.backoffice, &f.patient, 250).await;
    let next = client.next_data("b").await;
    assert_eq!(balance(&next), balance(&first) - 250);
    assert!(revision(&next) > revision(&first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_list_of_the_practice_grows_with_new_resources() {
    let Some(app) = spawn_app(Backend::Postgres).await else { return };
    let f = app.fixture().await;
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    let query = "query($p: ID!) @live { patients(practiceId: $p) { edges { node { firstName } } } }";
    live(&mut client, "l", query, json!({ "p": f.practice }), json!({})).await;
    let names = |payload: &Value| payload["data"]["patients"]["edges"].as_array().map_or(0, Vec::len);
    assert_eq!(names(&client.next_data("l").await), 1);
    new_patient(&app, &f.backoffice, &f.practice).await;
    assert_eq!(names(&client.next_data("l").await), 2, "a new patient is a new result");
}

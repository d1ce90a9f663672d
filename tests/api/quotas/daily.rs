//! `maxDeliveriesPerDay` on live queries, and what a practice hub reserves ahead: a live
//! query's result counts as one delivery, a subscriber past the quota is held and gets
//! the current result once it is raised; a hub that goes gives back what it reserved and
//! did not send; a subscription that runs on its own (several root fields) waits.

use serde_json::json;
use std::time::Duration;

use super::{EVENTS, quota, set};
use crate::helpers::{eventually, spawn_replicas};
use crate::redis_server::shared;
use crate::waits::wait_subscribed;
use crate::ws_client::{TRANSPORT_WS, WsClient};
use clinicstream::events::StreamTransport;

const NAME: &str = "query($id: ID!) @live { patient(id: $id) { firstName } }";
const RENAME: &str = "mutation($id: ID!, $n: String!) { updatePatient(input: {id: $id, firstName: $n}) { id } }";

fn name(payload: &serde_json::Value) -> String {
    payload["data"]["patient"]["firstName"].as_str().unwrap_or_else(|| panic!("a name in {payload}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_query_over_the_daily_quota_is_held_and_gets_the_current_result_once_it_is_raised() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, |_| {}).await else { return };
    let f = replicas[0].fixture().await;
    set(&replicas[0], json!({ "practiceId": f.practice, "maxDeliveriesPerDay": 2 })).await;
    let mut ws = WsClient::connect(replicas[1].addr, TRANSPORT_WS, &f.subscriber).await;
    ws.subscribe("l", NAME, json!({ "id": f.patient })).await;
    assert_eq!(name(&ws.next_data("l").await), "Maria", "the first result is one delivery");
    let rename = |n: &str| json!({ "id": f.patient, "n": n });
    replicas[0].ok(&f.backoffice, RENAME, rename("Ana")).await;
    assert_eq!(name(&ws.next_data("l").await), "Ana", "the second");
    replicas[0].ok(&f.backoffice, RENAME, rename("Bea")).await;
    replicas[0].ok(&f.backoffice, RENAME, rename("Cleo")).await;
    assert!(ws.recv_within(Duration::from_millis(1500)).await.is_none(), "past the quota: held");
    let used = quota(&replicas[1], &f.subscriber, &f.practice).await;
    assert_eq!(used["use"]["deliveriesToday"], 2, "{used}");
    set(&replicas[0], json!({ "practiceId": f.practice, "maxDeliveriesPerDay": 10 })).await;
    let current = ws.recv_within(Duration::from_secs(4)).await.expect("the current result once raised");
    assert_eq!(name(&current["payload"]), "Cleo", "the current state, not the skipped ones: {current}");
    assert!(ws.recv_within(Duration::from_millis(800)).await.is_none(), "once");
    replicas[0].ok(&f.backoffice, RENAME, rename("Dora")).await;
    assert_eq!(name(&ws.next_data("l").await), "Dora", "live again");
    ws.close().await;
    // The hub goes and gives back its reserve: what is used is what was sent.
    let used = async || quota(&replicas[0], &f.subscriber, &f.practice).await;
    let counted = eventually(Duration::from_secs(5), used, |u| u["use"]["deliveriesToday"] == 4).await;
    assert!(counted.is_ok(), "four results sent, four counted: {}", counted.unwrap_or_else(|u| u));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_goes_gives_back_the_deliveries_it_reserved_and_did_not_send() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(1, &redis, |_| {}).await else { return };
    let app = &replicas[0];
    let f = app.fixture().await;
    set(app, json!({ "practiceId": f.practice, "maxDeliveriesPerDay": 1000 })).await;
    for round in 1..=3 {
        let mut ws = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
        ws.subscribe("1", EVENTS, json!({ "p": f.practice })).await;
        wait_subscribed(app, StreamTransport::Websocket, 1).await;
        app.post_payment(&f.backoffice, &f.patient, round).await;
        assert!(ws.next_data("1").await["data"]["events"]["seq"].is_i64());
        ws.close().await;
        let used = async || quota(app, &f.subscriber, &f.practice).await;
        let counted = eventually(Duration::from_secs(5), used, |u| u["use"]["deliveriesToday"] == round).await;
        assert!(counted.is_ok(), "round {round}: one per event sent, not a chunk: {}", counted.unwrap_or_else(|u| u));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_that_runs_on_its_own_is_held_over_the_daily_quota_and_resumes_in_order() {
    const TWO_FIELDS: &str =
        "subscription($p: ID!) { paymentPosted(practiceId: $p) { seq } patientCreated(practiceId: $p) { seq } }";
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, |_| {}).await else { return };
    let f = replicas[0].fixture().await;
    set(&replicas[0], json!({ "practiceId": f.practice, "maxDeliveriesPerDay": 2 })).await;
    let mut ws = WsClient::connect(replicas[1].addr, TRANSPORT_WS, &f.subscriber).await;
    ws.subscribe("two", TWO_FIELDS, json!({ "p": f.practice })).await;
    // Run on its own, each root field is a feed of its own: two open.
    wait_subscribed(&replicas[1], StreamTransport::Websocket, 2).await;
    for cents in 1..=4 {
        replicas[0].post_payment(&f.backoffice, &f.patient, cents).await;
    }
    let seqs = |payloads: Vec<serde_json::Value>| -> Vec<i64> {
        payloads.iter().map(|p| p["data"]["paymentPosted"]["seq"].as_i64().expect("a payment")).collect()
    };
    let mut got = Vec::new();
    while let Some(message) = ws.recv_within(Duration::from_millis(1500)).await {
        got.push(message["payload"].clone());
    }
    let first = seqs(got);
    assert_eq!(first.len(), 2, "two, then held: {first:?}");
    set(&replicas[0], json!({ "practiceId": f.practice, "maxDeliveriesPerDay": 10 })).await;
    let mut got = Vec::new();
    while let Some(message) = ws.recv_within(Duration::from_secs(3)).await {
        got.push(message["payload"].clone());
    }
    let rest = seqs(got);
    assert_eq!(rest, [first[1] + 1, first[1] + 2], "the other two, in order, once (first: {first:?})");
}

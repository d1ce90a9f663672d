//! What the hub does not serve as a shared event feed is metered and audited too: a
//! subscription with several root fields (it runs on its own) and a live query — their
//! start, each delivery (per transport, and per patient in the audit), their stop.

use serde_json::{Value, json};

use super::{audit_until, fast_flush, usage_until};
use crate::helpers::{Backend, spawn_app_with};
use crate::ws_client::{TRANSPORT_WS, WsClient};

const TWO_FIELDS: &str = "subscription Two($p: ID!) {
  paymentPosted(practiceId: $p) { seq patient { id } }
  patientCreated(practiceId: $p) { seq }
}";
const LIVE: &str = "query Balance($id: ID!) @live { patient(id: $id) { id balanceCents } }";

fn rows<'a>(log: &'a [Value], action: &str, name: &str) -> Vec<&'a Value> {
    log.iter().filter(|r| r["action"] == action && r["operationName"] == name).collect()
}

fn delivered(log: &[Value], name: &str) -> i64 {
    rows(log, "DELIVER", name).iter().map(|r| r["deliveries"].as_i64().unwrap()).sum()
}

fn websocket(usage: &Value) -> i64 {
    let by = usage["deliveriesByTransport"].as_array().unwrap();
    by.iter().find(|t| t["transport"] == "WEBSOCKET").map_or(0, |t| t["count"].as_i64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_that_run_on_their_own_and_live_queries_are_metered_and_audited() {
    let Some(app) = spawn_app_with(Backend::Sqlite, fast_flush).await else { return };
    let f = app.fixture().await;
    let before = usage_until(&app, &f.practice, |_| true).await;
    let mut ws = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    ws.subscribe("two", TWO_FIELDS, json!({ "p": f.practice })).await;
    ws.subscribe("live", LIVE, json!({ "id": f.patient })).await;
    assert_eq!(ws.next_data("live").await["data"]["patient"]["id"], json!(f.patient));
    audit_until(&app, &f.practice, |log| rows(log, "SUBSCRIBE", "Two").len() == 1).await;
    assert_eq!(app.state().hubs.practices(), 1, "the live query is the hub's; Two runs on its own");
    app.post_payment(&f.backoffice, &f.patient, 700).await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let message = ws.recv().await.expect("a payment and a new balance");
        got.push(message["id"].as_str().unwrap().to_string());
    }
    got.sort();
    assert_eq!(got, ["live", "two"]);
    ws.close().await;

    let ours = json!([f.patient]);
    let log = audit_until(&app, &f.practice, |log| {
        rows(log, "UNSUBSCRIBE", "Two").len() == 1
            && rows(log, "UNSUBSCRIBE", "Balance").len() == 1
            && delivered(log, "Two") == 1
            && delivered(log, "Balance") == 2
    })
    .await;
    let subscribe = rows(&log, "SUBSCRIBE", "Two")[0];
    assert_eq!((&subscribe["transport"], &subscribe["role"]), (&json!("WEBSOCKET"), &json!("SUBSCRIBER")));
    assert!(subscribe["filter"].as_str().unwrap().contains("patientCreated(practiceId: $p)"), "{subscribe}");
    assert!(rows(&log, "DELIVER", "Two").iter().all(|r| r["patientIds"] == ours), "{log:#?}");
    assert!(rows(&log, "DELIVER", "Balance").iter().all(|r| r["patientIds"] == ours), "{log:#?}");
    // Usage: both started, and their three results went out over the websocket.
    let after = usage_until(&app, &f.practice, |u| websocket(u) >= websocket(&before) + 3).await;
    assert_eq!(websocket(&after) - websocket(&before), 3, "{after:#}");
    assert_eq!(after["subscriptions"].as_i64().unwrap() - before["subscriptions"].as_i64().unwrap(), 2);
    assert_eq!(after["peakSubscriptions"], 2, "{after:#}");
}

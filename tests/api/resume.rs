//! Resuming with `after`: exactly the missed events, then live, no gap or duplicate at the seam.

use serde_json::{Value, json};
use std::sync::Arc;

use crate::helpers::TestApp;
use crate::on_both_backends;
use crate::ws_client::{TRANSPORT_WS, WsClient};

on_both_backends!(
    a_reconnecting_subscriber_gets_exactly_what_it_missed,
    resuming_while_mutations_run_leaves_no_gap_or_duplicate
);

const EVENTS: &str = "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq cursor type } }";

async fn subscribe(app: &TestApp, key: &str, practice: &str, after: Option<&str>) -> WsClient {
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, key).await;
    client.subscribe("e", EVENTS, json!({ "p": practice, "a": after })).await;
    client
}

async fn next_event(client: &mut WsClient) -> Value {
    client.next_data("e").await["data"]["events"].clone()
}

async fn a_reconnecting_subscriber_gets_exactly_what_it_missed(app: TestApp) {
    let f = app.fixture().await;
    // From the start of the log: the fixture's PATIENT_CREATED is seq 1.
    let mut client = subscribe(&app, &f.subscriber, &f.practice, None).await;
    client.subscribe("sync", "{ __typename }", json!({})).await;
    client.next_data("sync").await;
    client.recv().await;
    for _ in 0..3 {
        app.post_payment(&f.backoffice, &f.patient, 100).await;
    }
    let mut last = Value::Null;
    for expected in 2..=4 {
        last = next_event(&mut client).await;
        assert_eq!(last["seq"], expected);
    }
    client.close().await;
    for _ in 0..5 {
        app.post_payment(&f.backoffice, &f.patient, 100).await;
    }
    let mut client = subscribe(&app, &f.subscriber, &f.practice, last["cursor"].as_str()).await;
    for expected in 5..=9 {
        assert_eq!(next_event(&mut client).await["seq"], expected, "replayed in order");
    }
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    assert_eq!(next_event(&mut client).await["seq"], 10, "then live, with nothing doubled at the seam");
    assert!(client.recv_within(std::time::Duration::from_millis(300)).await.is_none());

    // Resuming from the very first cursor replays the whole log.
    let first_cursor = {
        let data = app
            .ok(
                &f.subscriber,
                "query($p: ID!) { events(practiceId: $p, first: 1) { edges { cursor } } }",
                json!({ "p": f.practice }),
            )
            .await;
        data["events"]["edges"][0]["cursor"].as_str().unwrap().to_string()
    };
    let mut client = subscribe(&app, &f.subscriber, &f.practice, Some(&first_cursor)).await;
    for expected in 2..=10 {
        assert_eq!(next_event(&mut client).await["seq"], expected);
    }
}

async fn resuming_while_mutations_run_leaves_no_gap_or_duplicate(app: TestApp) {
    const TOTAL: i64 = 120;
    let f = app.fixture().await;
    let app = Arc::new(app);
    let mut client = subscribe(&app, &f.subscriber, &f.practice, None).await;
    client.subscribe("sync", "{ __typename }", json!({})).await;
    client.next_data("sync").await;
    client.recv().await;
    let writer = {
        let (app, key, patient) = (app.clone(), f.backoffice.clone(), f.patient.clone());
        tokio::spawn(async move {
            for _ in 0..TOTAL {
                app.post_payment(&key, &patient, 1).await;
            }
        })
    };
    let mut received: Vec<i64> = Vec::new();
    let mut cursor: Option<String> = None;
    // Drop the connection every 25 events and resume from the last cursor, while the
    // writer keeps committing.
    while (received.len() as i64) < TOTAL {
        let event = next_event(&mut client).await;
        received.push(event["seq"].as_i64().unwrap());
        cursor = event["cursor"].as_str().map(str::to_string);
        if received.len().is_multiple_of(25) {
            client.close().await;
            client = subscribe(&app, &f.subscriber, &f.practice, cursor.as_deref()).await;
        }
    }
    writer.await.unwrap();
    assert_eq!(received, (2..=TOTAL + 1).collect::<Vec<_>>(), "exactly once, in order, across four reconnects");
    assert!(cursor.is_some());
    assert!(client.recv_within(std::time::Duration::from_millis(300)).await.is_none());
}

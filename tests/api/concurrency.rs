//! Concurrent mutations on one practice: gapless seqs in commit order, all delivered in order.

use serde_json::json;
use std::sync::Arc;

use crate::helpers::TestApp;
use crate::on_both_backends;
use crate::ws_client::{TRANSPORT_WS, WsClient};

on_both_backends!(concurrent_mutations_get_gapless_seqs_and_arrive_in_order);

const TASKS: usize = 8;
const PER_TASK: usize = 50;

async fn concurrent_mutations_get_gapless_seqs_and_arrive_in_order(app: TestApp) {
    let f = app.fixture().await;
    let head = app.log(&f.practice).await.len() as i64;
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    client
        .subscribe("all", "subscription($p: ID!) { events(practiceId: $p) { seq } }", json!({ "p": f.practice }))
        .await;
    client.subscribe("sync", "{ __typename }", json!({})).await;
    client.next_data("sync").await;
    client.recv().await;

    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (app, key, patient) = (app.clone(), f.backoffice.clone(), f.patient.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..PER_TASK {
                let body = app.post_payment(&key, &patient, 1).await;
                assert!(body.get("errors").is_none(), "{body}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let total = (TASKS * PER_TASK) as i64;
    let seqs: Vec<i64> = app.log(&f.practice).await.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=head + total).collect::<Vec<_>>(), "the log is gapless");
    let mut received = Vec::new();
    while (received.len() as i64) < total {
        let payload = client.next_data("all").await;
        received.push(payload["data"]["events"]["seq"].as_i64().unwrap());
    }
    assert_eq!(received, (head + 1..=head + total).collect::<Vec<_>>(), "every event once, in seq order");
    let balance = app
        .ok(&f.backoffice, "query($id: ID!) { patient(id: $id) { balanceCents } }", json!({ "id": f.patient }))
        .await;
    assert_eq!(balance["patient"]["balanceCents"], -total);
}

//! Idempotency keys: the same key and input return the first result and append no event.

use serde_json::json;

use crate::helpers::{TestApp, code};
use crate::on_both_backends;

on_both_backends!(the_same_key_twice_makes_one_payment_and_one_event, a_reused_key_with_different_input_is_a_conflict);

const PAY: &str = "mutation($p: ID!, $a: Int!, $k: String) { postPayment(input: {patientId: $p, amountCents: $a, method: CASH, idempotencyKey: $k}) { id amountCents } }";

async fn the_same_key_twice_makes_one_payment_and_one_event(app: TestApp) {
    let f = app.fixture().await;
    let first = app.ok(&f.backoffice, PAY, json!({ "p": f.patient, "a": 900, "k": "pay-1" })).await;
    let second = app.ok(&f.backoffice, PAY, json!({ "p": f.patient, "a": 900, "k": "pay-1" })).await;
    assert_eq!(first, second, "the replay returns the first result");
    let payments = app
        .ok(
            &f.backoffice,
            "query($id: ID!) { payments(patientId: $id) { edges { node { id } } } patient(id: $id) { balanceCents } }",
            json!({ "id": f.patient }),
        )
        .await;
    assert_eq!(payments["payments"]["edges"].as_array().unwrap().len(), 1);
    assert_eq!(payments["patient"]["balanceCents"], -900);
    let log = app.log(&f.practice).await;
    assert_eq!(log.iter().filter(|(_, t)| t == "PAYMENT_POSTED").count(), 1);

    // Concurrent retries with one key still make one payment.
    let tries: Vec<_> =
        (0..6).map(|_| app.gql(Some(&f.backoffice), PAY, json!({ "p": f.patient, "a": 50, "k": "pay-2" }))).collect();
    let answers = futures_util::future::join_all(tries).await;
    let ids: std::collections::HashSet<String> =
        answers.iter().map(|a| a["data"]["postPayment"]["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    let log = app.log(&f.practice).await;
    assert_eq!(log.iter().filter(|(_, t)| t == "PAYMENT_POSTED").count(), 2);
}

async fn a_reused_key_with_different_input_is_a_conflict(app: TestApp) {
    let f = app.fixture().await;
    app.ok(&f.backoffice, PAY, json!({ "p": f.patient, "a": 900, "k": "k" })).await;
    let other = app.gql(Some(&f.backoffice), PAY, json!({ "p": f.patient, "a": 901, "k": "k" })).await;
    assert_eq!(code(&other), "CONFLICT");
    let created = app
        .gql(Some(&f.backoffice), "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"A\", lastName: \"B\", idempotencyKey: \"k\"}) { id } }", json!({ "p": f.practice }))
        .await;
    assert_eq!(code(&created), "CONFLICT", "the key is taken by another operation");
    assert_eq!(app.log(&f.practice).await.len(), 2, "only the first payment was appended");
}

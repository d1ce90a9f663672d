//! Money stays a GraphQL `Int` (32-bit signed): an amount, or a balance it would lead to,
//! outside that range is BAD_USER_INPUT and writes nothing — no row, no event, the balance
//! unchanged — even when the mutations that cross the bound commit in one batch.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::helpers::{TestApp, code};
use crate::on_both_backends;

on_both_backends!(
    charges_that_would_take_a_balance_past_the_int_range_are_refused_and_write_nothing,
    payments_that_would_take_a_balance_below_the_int_range_are_refused_and_write_nothing,
    an_amount_past_the_int_range_is_refused_clearly,
    charges_batched_together_cannot_slip_past_the_bound,
);

const CHARGE: &str = "mutation($p: ID!, $a: Int!) { postCharge(input: {patientId: $p, amountCents: $a, description: \"Implant\"}) { id amountCents } }";
const PAY: &str = "mutation($p: ID!, $a: Int!) { postPayment(input: {patientId: $p, amountCents: $a, method: CARD}) { id amountCents } }";
const BALANCE: &str = "query($id: ID!) { patient(id: $id) { balanceCents } }";
const HUNDRED_MILLION: i64 = 100_000_000;

async fn balance(app: &TestApp, key: &str, patient: &str) -> Value {
    app.ok(key, BALANCE, json!({ "id": patient })).await["patient"]["balanceCents"].clone()
}

/// Sends `n` mutations one after another, each of which must succeed.
async fn accepted(app: &TestApp, key: &str, query: &str, patient: &str, amount: i64, n: usize) {
    for i in 0..n {
        let body = app.gql(Some(key), query, json!({ "p": patient, "a": amount })).await;
        assert!(body.get("errors").is_none(), "mutation {i} is accepted: {body}");
    }
}

/// A mutation that must be refused with BAD_USER_INPUT, leaving the log and balance as they were.
async fn refused_changing_nothing(app: &TestApp, key: &str, practice: &str, patient: &str, query: &str, amount: i64) {
    let log = app.log(practice).await;
    let before = balance(app, key, patient).await;
    let body = app.gql(Some(key), query, json!({ "p": patient, "a": amount })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("2147483647") || message.contains("-2147483648"), "the bound is named: {message}");
    assert_eq!(app.log(practice).await, log, "no event for the refused mutation");
    assert_eq!(balance(app, key, patient).await, before, "the balance is unchanged");
}

async fn charges_that_would_take_a_balance_past_the_int_range_are_refused_and_write_nothing(app: TestApp) {
    let f = app.fixture().await;
    accepted(&app, &f.backoffice, CHARGE, &f.patient, HUNDRED_MILLION, 21).await;
    assert_eq!(balance(&app, &f.backoffice, &f.patient).await, json!(2_100_000_000));
    refused_changing_nothing(&app, &f.backoffice, &f.practice, &f.patient, CHARGE, HUNDRED_MILLION).await;
    // Up to the bound exactly is fine; one cent past it is not.
    accepted(&app, &f.backoffice, CHARGE, &f.patient, i32::MAX as i64 - 2_100_000_000, 1).await;
    assert_eq!(balance(&app, &f.backoffice, &f.patient).await, json!(i32::MAX));
    refused_changing_nothing(&app, &f.backoffice, &f.practice, &f.patient, CHARGE, 1).await;
    // A payment brings it back into range, and charges are accepted again.
    accepted(&app, &f.backoffice, PAY, &f.patient, HUNDRED_MILLION, 1).await;
    accepted(&app, &f.backoffice, CHARGE, &f.patient, 1, 1).await;
    let charges = app.log(&f.practice).await.iter().filter(|(_, t)| t == "CHARGE_POSTED").count();
    assert_eq!(charges, 23, "only the accepted charges are in the log");
}

async fn payments_that_would_take_a_balance_below_the_int_range_are_refused_and_write_nothing(app: TestApp) {
    let f = app.fixture().await;
    accepted(&app, &f.backoffice, PAY, &f.patient, HUNDRED_MILLION, 21).await;
    assert_eq!(balance(&app, &f.backoffice, &f.patient).await, json!(-2_100_000_000));
    refused_changing_nothing(&app, &f.backoffice, &f.practice, &f.patient, PAY, HUNDRED_MILLION).await;
    accepted(&app, &f.backoffice, PAY, &f.patient, i32::MIN.unsigned_abs() as i64 - 2_100_000_000, 1).await;
    assert_eq!(balance(&app, &f.backoffice, &f.patient).await, json!(i32::MIN));
    refused_changing_nothing(&app, &f.backoffice, &f.practice, &f.patient, PAY, 1).await;
    let payments = app.log(&f.practice).await.iter().filter(|(_, t)| t == "PAYMENT_POSTED").count();
    assert_eq!(payments, 22, "only the accepted payments are in the log");
}

async fn an_amount_past_the_int_range_is_refused_clearly(app: TestApp) {
    let f = app.fixture().await;
    let log = app.log(&f.practice).await;
    for query in [CHARGE, PAY] {
        for amount in [3_000_000_000_i64, -3_000_000_000, i64::MAX] {
            let body = app.gql(Some(&f.backoffice), query, json!({ "p": f.patient, "a": amount })).await;
            assert_eq!(code(&body), "BAD_USER_INPUT", "{amount}: {body}");
        }
    }
    assert_eq!(app.log(&f.practice).await, log, "nothing written");
    assert_eq!(balance(&app, &f.backoffice, &f.patient).await, json!(0));
}

async fn charges_batched_together_cannot_slip_past_the_bound(app: TestApp) {
    let app = Arc::new(app);
    let f = app.fixture().await;
    accepted(&app, &f.backoffice, CHARGE, &f.patient, HUNDRED_MILLION, 18).await;
    // Hold the writer on a first charge; five more queue behind it, in the same batch:
    // the batch's writes reach 2,400,000,000 unless each is checked inside it.
    let faults = &app.state().services.domain.faults;
    faults.hold_batches.send_replace(true);
    let send = |app: &Arc<TestApp>| {
        let (app, key, patient) = (app.clone(), f.backoffice.clone(), f.patient.clone());
        tokio::spawn(async move { app.gql(Some(&key), CHARGE, json!({ "p": patient, "a": HUNDRED_MILLION })).await })
    };
    let mut tasks = vec![send(&app)];
    assert!(
        crate::helpers::until(Duration::from_secs(10), || faults.held_batches.load(Ordering::SeqCst) == 1).await,
        "the writer holds the first charge"
    );
    let counters = &app.state().services.domain.counters;
    for queued in 1..=5 {
        tasks.push(send(&app));
        assert!(
            crate::helpers::until(Duration::from_secs(10), || counters.write_queue.get() == queued).await,
            "{queued} charges are queued"
        );
    }
    faults.hold_batches.send_replace(false);
    let mut ok = 0;
    for task in tasks {
        let body = task.await.expect("the request task");
        match body.get("errors") {
            None => ok += 1,
            Some(_) => assert_eq!(code(&body), "BAD_USER_INPUT", "{body}"),
        }
    }
    assert_eq!(ok, 3, "three fit under the bound, the other three are refused");
    assert_eq!(balance(&app, &f.backoffice, &f.patient).await, json!(2_100_000_000));
    let charges = app.log(&f.practice).await.iter().filter(|(_, t)| t == "CHARGE_POSTED").count();
    assert_eq!(charges, 21, "no event for a refused charge");
}

//! Sending again: `replayWebhooks` re-sends exactly the endpoint's events after a cursor,
//! in order, with their original webhook-ids; `redeliverWebhook` re-sends one.

use clinicstream::events::Cursor;
use serde_json::json;
use std::time::Duration;

use super::receiver::Receiver;
use super::support::{create_endpoint, fast, pay, seqs, wait_deliveries};
use crate::helpers::TestApp;
use crate::webhook_tests;

const WAIT: Duration = Duration::from_secs(15);
const REPLAY: &str = "mutation($e: ID!, $a: String) { replayWebhooks(input: {endpointId: $e, after: $a}) { queued } }";

webhook_tests!(fast =>
    replay_from_a_cursor_resends_exactly_the_requested_events,
    a_redelivery_asked_for_while_an_attempt_is_in_flight_still_happens,
);

async fn replay_from_a_cursor_resends_exactly_the_requested_events(app: TestApp) {
    let receiver = Receiver::start().await;
    let f = app.fixture().await;
    let url = receiver.url("/payments");
    let (endpoint, _) = create_endpoint(&app, &f.backoffice, &f.practice, &url, json!(["PAYMENT_POSTED"])).await;
    pay(&app, &f.backoffice, &f.patient, 2).await;
    let patient =
        "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"Ann\", lastName: \"Lee\"}) { id } }";
    app.ok(&f.backoffice, patient, json!({ "p": f.practice })).await;
    pay(&app, &f.backoffice, &f.patient, 2).await;
    // Seq 4 is a PATIENT_CREATED the endpoint does not want.
    let first = receiver.wait_for(WAIT, |r| r.len() == 4).await;
    assert_eq!(seqs(&first), [2, 3, 5, 6]);

    let after = Cursor { practice_id: f.practice.clone(), seq: 3 }.encode();
    let replayed = app.ok(&f.backoffice, REPLAY, json!({ "e": endpoint, "a": after })).await;
    assert_eq!(replayed["replayWebhooks"]["queued"], 2);
    let all = receiver.wait_for(WAIT, |r| r.len() == 6).await;
    assert_eq!(seqs(&all[4..]), [5, 6], "exactly the events after the cursor, in order");
    assert_eq!(all[4].id, first[2].id, "the same webhook-id as the first time");
    assert_eq!(all[4].body, first[2].body, "the same body as the first time");
    // timing: a negative check; nothing else may arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.requests().len(), 6, "and nothing else");

    // Without a cursor: every retained event of the endpoint's types.
    let replayed = app.ok(&f.backoffice, REPLAY, json!({ "e": endpoint })).await;
    assert_eq!(replayed["replayWebhooks"]["queued"], 4);
    let all = receiver.wait_for(WAIT, |r| r.len() == 10).await;
    assert_eq!(seqs(&all[6..]), [2, 3, 5, 6]);

    // One delivery again.
    // (The last attempt is on record a moment after the receiver answered it.)
    let attempts = |l: &[serde_json::Value]| l.iter().map(|d| d["attemptCount"].as_i64().unwrap()).collect::<Vec<_>>();
    let list = wait_deliveries(&app, &f.backoffice, &endpoint, WAIT, |l| attempts(l) == [2, 2, 3, 3]).await;
    let redeliver = "mutation($d: ID!) { redeliverWebhook(input: {deliveryId: $d}) { seq status } }";
    let again = app.ok(&f.backoffice, redeliver, json!({ "d": list[1]["id"] })).await;
    assert_eq!(again["redeliverWebhook"]["seq"], 3);
    let all = receiver.wait_for(WAIT, |r| r.len() == 11).await;
    assert_eq!(all[10].seq(), 3);

    // A cursor of another practice, or ahead of the log, is refused.
    let other = Cursor { practice_id: "prc_other".into(), seq: 1 }.encode();
    let ahead = Cursor { practice_id: f.practice.clone(), seq: 999 }.encode();
    for bad in [other, ahead, "garbage".to_string()] {
        let body = app.gql(Some(&f.backoffice), REPLAY, json!({ "e": endpoint, "a": bad })).await;
        assert_eq!(crate::helpers::code(&body), "BAD_USER_INPUT", "{body}");
    }
}

async fn a_redelivery_asked_for_while_an_attempt_is_in_flight_still_happens(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_millis(400));
    let f = app.fixture().await;
    let (endpoint, _) = create_endpoint(&app, &f.backoffice, &f.practice, &receiver.url("/hooks"), json!(null)).await;
    pay(&app, &f.backoffice, &f.patient, 1).await;
    receiver.wait_for(WAIT, |r| r.len() == 1).await;
    // The first attempt is still waiting for its answer.
    let list = super::support::deliveries(&app, &f.backoffice, &endpoint).await;
    let redeliver = "mutation($d: ID!) { redeliverWebhook(input: {deliveryId: $d}) { status } }";
    app.ok(&f.backoffice, redeliver, json!({ "d": list[0]["id"] })).await;
    let list = wait_deliveries(&app, &f.backoffice, &endpoint, WAIT, |l| {
        l[0]["status"] == "SUCCEEDED" && l[0]["attemptCount"] == 2
    })
    .await;
    assert_eq!(list[0]["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(receiver.requests().len(), 2, "the redelivery was not swallowed by the attempt in flight");
}

//! Delivering: signed as Standard Webhooks says (also across a secret rotation), retried
//! on failure exactly as scheduled, given up and disabled when the endpoint keeps failing,
//! and caught up when a worker starts after events were written.

use serde_json::json;
use std::time::Duration;

use super::receiver::Receiver;
use super::support::{create_endpoint, fast, pay, seqs, wait_deliveries};
use super::verify;
use crate::helpers::{TestApp, eventually, test_config};
use crate::webhook_tests;

const WAIT: Duration = Duration::from_secs(15);
const ROTATE: &str = "mutation($id: ID!, $g: Int) { rotateWebhookSecret(input: {id: $id, graceSeconds: $g}) { secret endpoint { previousSecretExpiresAt } } }";

webhook_tests!(fast =>
    signatures_verify_with_standard_webhooks_also_after_a_secret_rotation,
    a_receiver_failing_twice_gets_exactly_three_attempts_and_one_delivery,
    a_delivery_that_fails_every_retry_gives_way_and_410_disables_the_endpoint,
    retry_after_is_honoured,
);
webhook_tests!(no_worker => events_created_while_no_worker_runs_are_delivered_when_one_starts);
webhook_tests!(quick_to_disable => an_endpoint_failing_longer_than_the_limit_is_disabled);

fn no_worker(config: &mut clinicstream::Config) {
    fast(config);
    config.webhooks.worker = false;
}

fn quick_to_disable(config: &mut clinicstream::Config) {
    fast(config);
    config.webhooks.retry_schedule = vec!["60ms"; 40].join(",").parse().unwrap();
    config.webhooks.disable_after = Duration::from_millis(400);
}

async fn signatures_verify_with_standard_webhooks_also_after_a_secret_rotation(app: TestApp) {
    if !verify::ready() {
        return;
    }
    let receiver = Receiver::start().await;
    let f = app.fixture().await;
    let (endpoint, first) =
        create_endpoint(&app, &f.backoffice, &f.practice, &receiver.url("/hooks"), json!(null)).await;
    assert!(first.starts_with("whsec_"), "{first}");
    pay(&app, &f.backoffice, &f.patient, 1).await;
    receiver.wait_for(WAIT, |r| r.len() == 1).await;
    // Rotated with the default grace: the old secret keeps signing next to the new one.
    let rotated = app.ok(&f.backoffice, ROTATE, json!({ "id": endpoint })).await;
    let second = rotated["rotateWebhookSecret"]["secret"].as_str().unwrap().to_string();
    assert!(rotated["rotateWebhookSecret"]["endpoint"]["previousSecretExpiresAt"].is_string());
    pay(&app, &f.backoffice, &f.patient, 1).await;
    receiver.wait_for(WAIT, |r| r.len() == 2).await;
    // Rotated with no grace: only the newest secret signs.
    let rotated = app.ok(&f.backoffice, ROTATE, json!({ "id": endpoint, "g": 0 })).await;
    let third = rotated["rotateWebhookSecret"]["secret"].as_str().unwrap().to_string();
    pay(&app, &f.backoffice, &f.patient, 1).await;
    let r = receiver.wait_for(WAIT, |r| r.len() == 3).await;
    assert_eq!(r[1].signature.split(' ').count(), 2, "two signatures during the grace period");
    verify::check(&[
        verify::case(&r[0], &first, true),
        verify::case(&r[0], &second, false),
        verify::case(&r[1], &second, true),
        verify::case(&r[1], &first, true),
        verify::case(&r[2], &third, true),
        verify::case(&r[2], &second, false),
        verify::case(&r[2], &first, false),
    ]);
    // The body is {type, timestamp, data}; data is the event as subscribers see it, and
    // webhook-id is its cursor.
    let body = r[0].json();
    assert_eq!(body["type"], "PAYMENT_POSTED");
    assert!(body["timestamp"].is_string());
    assert_eq!(body["data"]["seq"], 2);
    assert_eq!(body["data"]["payment"]["amountCents"], 1);
    assert_eq!(body["data"]["patient"]["id"], f.patient.as_str());
    assert_eq!(body["data"]["cursor"], r[0].id.as_str());
    assert_eq!(seqs(&r), [2, 3, 4]);
}

async fn a_receiver_failing_twice_gets_exactly_three_attempts_and_one_delivery(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.script(&[500, 500]);
    let f = app.fixture().await;
    let (endpoint, _) = create_endpoint(&app, &f.backoffice, &f.practice, &receiver.url("/hooks"), json!(null)).await;
    pay(&app, &f.backoffice, &f.patient, 1).await;
    let list =
        wait_deliveries(&app, &f.backoffice, &endpoint, WAIT, |l| l.len() == 1 && l[0]["status"] == "SUCCEEDED").await;
    let delivery = &list[0];
    assert_eq!(delivery["attemptCount"], 3);
    assert_eq!(delivery["lastStatusCode"], 200);
    assert!(delivery["deliveredAt"].is_string());
    let attempts = delivery["attempts"].as_array().unwrap();
    let codes: Vec<i64> = attempts.iter().map(|a| a["statusCode"].as_i64().unwrap()).collect();
    assert_eq!(codes, [500, 500, 200]);
    assert_eq!(attempts.iter().map(|a| a["number"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(attempts[0]["error"].as_str().unwrap().contains("HTTP 500"), "{}", attempts[0]);
    assert!(attempts[2]["error"].is_null());
    assert!(attempts.iter().all(|a| a["latencyMs"].as_i64().unwrap() >= 0));
    // Nothing more arrives: delivered once.
    // timing: a negative check.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let requests = receiver.requests();
    assert_eq!(requests.iter().map(|r| r.status).collect::<Vec<_>>(), [500, 500, 200]);
    assert!(requests.iter().all(|r| r.id == delivery["webhookId"].as_str().unwrap()), "one webhook-id throughout");
    // And the attempts are counted by outcome on /metrics.
    let metrics = app.http().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("clinicstream_webhook_attempts_total{outcome=\"http_error\"} 2"), "{metrics}");
    assert!(metrics.contains("clinicstream_webhook_attempts_total{outcome=\"delivered\"} 1"), "{metrics}");
}

async fn retry_after_is_honoured(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.script_retry_after(503, "1");
    let f = app.fixture().await;
    let (endpoint, _) = create_endpoint(&app, &f.backoffice, &f.practice, &receiver.url("/hooks"), json!(null)).await;
    pay(&app, &f.backoffice, &f.patient, 1).await;
    let list =
        wait_deliveries(&app, &f.backoffice, &endpoint, WAIT, |l| l.len() == 1 && l[0]["status"] == "SUCCEEDED").await;
    let attempts = list[0]["attempts"].as_array().unwrap();
    let at = |i: usize| chrono::DateTime::parse_from_rfc3339(attempts[i]["attemptedAt"].as_str().unwrap()).unwrap();
    assert_eq!(attempts.len(), 2);
    assert!(at(1) - at(0) >= chrono::Duration::milliseconds(950), "waited as asked, not 50 ms: {attempts:?}");
}

async fn a_delivery_that_fails_every_retry_gives_way_and_410_disables_the_endpoint(app: TestApp) {
    let receiver = Receiver::start().await;
    // `fast` allows four retries: five failures use them up.
    receiver.script(&[500; 5]);
    let f = app.fixture().await;
    let (endpoint, _) = create_endpoint(&app, &f.backoffice, &f.practice, &receiver.url("/hooks"), json!(null)).await;
    pay(&app, &f.backoffice, &f.patient, 2).await;
    let list = wait_deliveries(&app, &f.backoffice, &endpoint, WAIT, |l| {
        l.len() == 2 && l[0]["status"] == "FAILED" && l[1]["status"] == "SUCCEEDED"
    })
    .await;
    assert_eq!(list[0]["attemptCount"], 5);
    // The later event waited for the earlier one to be given up (FIFO per endpoint).
    assert_eq!(seqs(&receiver.requests()), [2, 2, 2, 2, 2, 3]);
    // 410 Gone disables the endpoint; what follows waits, and is delivered once re-enabled.
    receiver.script(&[410]);
    pay(&app, &f.backoffice, &f.patient, 2).await;
    receiver.wait_for(WAIT, |r| r.len() == 7).await;
    let query = "query($p: ID!) { webhookEndpoints(practiceId: $p) { enabled disabledReason } }";
    let endpoint_state =
        async || app.ok(&f.backoffice, query, json!({ "p": f.practice })).await["webhookEndpoints"][0].clone();
    let state =
        eventually(Duration::from_secs(2), endpoint_state, |s| s["enabled"] == false).await.unwrap_or_else(|s| s);
    assert_eq!(state["enabled"], false, "{state}");
    assert!(state["disabledReason"].as_str().unwrap().contains("410"), "{state}");
    // timing: a negative check; a disabled endpoint gets nothing meanwhile.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.requests().len(), 7, "a disabled endpoint receives nothing");
    let enable = "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, enabled: true}) { enabled } }";
    app.ok(&f.backoffice, enable, json!({ "id": endpoint })).await;
    let r = receiver.wait_for(WAIT, |r| r.len() == 9).await;
    assert_eq!(seqs(&r[6..]), [4, 4, 5]);
}

async fn an_endpoint_failing_longer_than_the_limit_is_disabled(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.script(&[503; 100]);
    let f = app.fixture().await;
    let (endpoint, _) = create_endpoint(&app, &f.backoffice, &f.practice, &receiver.url("/hooks"), json!(null)).await;
    pay(&app, &f.backoffice, &f.patient, 1).await;
    let query = "query($p: ID!) { webhookEndpoints(practiceId: $p) { enabled disabledReason failingSince } }";
    let endpoint_state =
        async || app.ok(&f.backoffice, query, json!({ "p": f.practice })).await["webhookEndpoints"][0].clone();
    let state =
        eventually(Duration::from_secs(4), endpoint_state, |s| s["enabled"] == false).await.unwrap_or_else(|s| s);
    assert_eq!(state["enabled"], false, "{state}");
    assert!(state["disabledReason"].as_str().unwrap().contains("every attempt failed since"), "{state}");
    let list = super::support::deliveries(&app, &f.backoffice, &endpoint).await;
    assert_eq!(list[0]["status"], "PENDING", "kept for when the endpoint is enabled again");
    assert!(list[0]["attemptCount"].as_i64().unwrap() >= 3, "{}", list[0]);
}

async fn events_created_while_no_worker_runs_are_delivered_when_one_starts(app: TestApp) {
    let receiver = Receiver::start().await;
    let f = app.fixture().await;
    let (endpoint, _) = create_endpoint(&app, &f.backoffice, &f.practice, &receiver.url("/hooks"), json!(null)).await;
    pay(&app, &f.backoffice, &f.patient, 3).await;
    // timing: a negative check; with no worker nothing is delivered or queued meanwhile.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.requests().is_empty());
    assert!(super::support::deliveries(&app, &f.backoffice, &endpoint).await.is_empty(), "nothing queued yet");
    // A replica with a worker starts over the same database.
    let mut config = test_config("unused: the database is given");
    fast(&mut config);
    let services = &app.state().services.domain;
    let worker = clinicstream::App::build_on(config, services.db.clone(), services.clock.clone()).await.unwrap();
    let stop = worker.state().shutdown.clone();
    tokio::spawn(worker.run_until(std::future::pending()));
    let r = receiver.wait_for(WAIT, |r| r.len() == 3).await;
    assert_eq!(seqs(&r), [2, 3, 4]);
    stop.cancel();
}

//! Hostile input, property-based: random cursors, ids, inputs and raw websocket frames
//! never cause a panic, a 500, internals in a response, or a half-applied mutation.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app};
use crate::ws_client::{TRANSPORT_WS, WsClient};

const CASES: u32 = 96;
const CODES: [&str; 6] = ["BAD_USER_INPUT", "NOT_FOUND", "FORBIDDEN", "UNAUTHENTICATED", "CONFLICT", "CURSOR_EXPIRED"];

fn assert_clean(body: &Value) {
    let text = body.to_string();
    for leak in ["panicked", "SELECT ", "sea_orm", "sqlx", ".rs:", "RUST_BACKTRACE", "DbErr"] {
        assert!(!text.contains(leak), "a response leaks {leak:?}: {text}");
    }
    for error in body["errors"].as_array().into_iter().flatten() {
        let code = error["extensions"]["code"].as_str().unwrap_or("none");
        assert!(CODES.contains(&code), "unexpected code {code}: {text}");
    }
}

/// Strings that look like what attackers send: anything, plus near-valid shapes.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9_=:-]{0,80}",
        "ZXYx[A-Za-z0-9_-]{0,60}",
        "(prc|pat|apt|pay)_[0-9a-f]{0,40}",
        Just("'; DROP TABLE events; --".to_string()),
        Just("\u{0000}\u{202e}".to_string()),
        ".{300,400}",
    ]
}

#[test]
fn hostile_http_inputs_get_clean_answers_and_change_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let Some(app) = rt.block_on(spawn_app(Backend::Sqlite)) else { return };
    let f = rt.block_on(app.fixture());
    let paid = std::cell::Cell::new(0i64);
    let mut runner = TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() });
    runner
        .run(&(hostile(), hostile(), any::<i64>(), hostile()), |(cursor, id, amount, text)| {
            rt.block_on(async {
                let events = app
                    .gql(Some(&f.subscriber), "query($p: ID!, $a: String) { events(practiceId: $p, after: $a) { edges { cursor } } }", json!({ "p": f.practice, "a": cursor }))
                    .await;
                assert_clean(&events);
                for query in ["query($id: ID!) { patient(id: $id) { id } }", "query($id: ID!) { appointment(id: $id) { id } }", "query($id: ID!) { payments(patientId: $id) { edges { cursor } } }"] {
                    assert_clean(&app.gql(Some(&f.subscriber), query, json!({ "id": id })).await);
                }
                let payment = app
                    .gql(Some(&f.backoffice), "mutation($p: ID!, $a: Int!, $r: String) { postPayment(input: {patientId: $p, amountCents: $a, method: CARD, reference: $r}) { amountCents } }", json!({ "p": f.patient, "a": amount, "r": text }))
                    .await;
                assert_clean(&payment);
                if let Some(cents) = payment["data"]["postPayment"]["amountCents"].as_i64() {
                    paid.set(paid.get() + cents);
                }
                let patient = app
                    .gql(Some(&f.backoffice), "mutation($p: ID!, $n: String!, $e: String) { createPatient(input: {practiceId: $p, firstName: $n, lastName: $n, email: $e}) { id } }", json!({ "p": f.practice, "n": text, "e": id }))
                    .await;
                assert_clean(&patient);
            });
            Ok(())
        })
        .unwrap();
    rt.block_on(async {
        let balance = app
            .ok(&f.backoffice, "query($id: ID!) { patient(id: $id) { balanceCents } }", json!({ "id": f.patient }))
            .await;
        assert_eq!(balance["patient"]["balanceCents"], -paid.get(), "only whole, accepted payments moved the balance");
        let log = app.log(&f.practice).await;
        let payments = log.iter().filter(|(_, t)| t == "PAYMENT_POSTED").count() as i64;
        assert!(payments <= i64::from(CASES));
        assert_eq!(
            log.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            (1..=log.len() as i64).collect::<Vec<_>>(),
            "a gapless log"
        );
        assert_eq!(app.http().get(app.url("/healthz")).send().await.unwrap().status(), 200);
    });
}

#[test]
fn hostile_websocket_frames_get_a_protocol_answer() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let Some(app) = rt.block_on(spawn_app(Backend::Sqlite)) else { return };
    let f = rt.block_on(app.fixture());
    let mut runner = TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() });
    let frame = prop_oneof![
        hostile(),
        Just(r#"{"type":"subscribe"}"#.to_string()),
        Just(r#"{"id":1,"type":"subscribe","payload":{"query":1}}"#.to_string()),
        "\\{\"id\":\"[a-z]{1,3}\",\"type\":\"(subscribe|complete|ping|pong|next|error)\",\"payload\":\\{\"query\":\"[{} a-z]{0,30}\"\\}\\}",
    ];
    runner
        .run(&frame, |text| {
            rt.block_on(async {
                let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
                client.send_text(&text).await;
                // A ping after it: the pong proves the connection survived; a close must
                // carry a protocol code.
                client.send_text(r#"{"type":"ping","payload":{"probe":true}}"#).await;
                loop {
                    match client.recv_within(std::time::Duration::from_secs(5)).await {
                        Some(answer) if answer["type"] == "pong" && answer["payload"]["probe"] == true => break,
                        Some(answer) => assert_clean(&answer["payload"]),
                        None => {
                            let code = client.closed().await;
                            assert!(matches!(code, Some(4400 | 4409 | 1009)), "close code {code:?} for {text:?}");
                            break;
                        }
                    }
                }
            });
            Ok(())
        })
        .unwrap();
    rt.block_on(async {
        assert_eq!(app.http().get(app.url("/healthz")).send().await.unwrap().status(), 200, "the server is still up");
        WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    });
}

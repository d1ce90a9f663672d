//! NUL and other control characters in ids, cursors and free text: BAD_USER_INPUT or
//! NOT_FOUND at the edge, never INTERNAL (Postgres text cannot hold NUL), and nothing
//! changes. Every id and string argument of every query, mutation and subscription is
//! found by introspection, so a new argument is covered without touching this file.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Fixture, TestApp};
use crate::on_both_backends;
use crate::ws_client::{TRANSPORT_WS, WsClient};
use walk::{Schema, operation, slots};

mod walk;

on_both_backends!(
    control_characters_in_any_id_argument_are_refused_or_not_found_and_change_nothing,
    nul_in_any_string_argument_is_bad_user_input_and_changes_nothing,
    cursors_that_decode_to_control_characters_are_bad_user_input,
    control_characters_in_subscription_ids_and_cursors_are_refused,
    a_key_with_control_characters_is_refused_on_every_door
);

/// The ids tried in every id argument.
const BAD_IDS: [&str; 5] = ["prc_\u{0}", "\u{0}", "pat_\u{1}x", "prc_\u{1b}[31m", "apt_\u{7f}"];

/// POSTs as the global admin (who may reach every resolver) and returns the status and body.
async fn post(app: &TestApp, query: &str, variables: &Value) -> (u16, Value) {
    let request = json!({ "query": query, "variables": variables });
    let response = app.http().post(app.url("/graphql")).bearer_auth(ADMIN_KEY).json(&request).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// The code of an operation's error on a socket: an `error` message (refused before it
/// ran), or a `next` whose payload carries errors (refused by its resolver).
fn socket_error_code(answer: &Value) -> Option<&str> {
    match answer["type"].as_str() {
        Some("error") => answer["payload"][0]["extensions"]["code"].as_str(),
        Some("next") if answer["payload"]["data"].is_null() => error_code(&answer["payload"]),
        _ => None,
    }
}

/// What must not change: the fixture's log and the practices, patients and endpoints.
async fn state(app: &TestApp, f: &Fixture) -> Value {
    let data = app
        .ok(
            ADMIN_KEY,
            "query($p: ID!) { practices(first: 200) { edges { node { id name } } }
              patients(practiceId: $p, first: 200) { edges { node { id firstName lastName email balanceCents } } }
              providers(practiceId: $p) { id name } apiKeys(practiceId: $p) { id name revokedAt }
              webhookEndpoints(practiceId: $p) { id } }",
            json!({ "p": f.practice }),
        )
        .await;
    json!({ "data": data, "log": app.log(&f.practice).await.len() })
}

async fn control_characters_in_any_id_argument_are_refused_or_not_found_and_change_nothing(app: TestApp) {
    let f = app.fixture().await;
    let schema = Schema::read(&app).await;
    let before = state(&app, &f).await;
    let mut tried = 0;
    for root in ["Query", "Mutation"] {
        for slot in slots(&schema, root).into_iter().filter(|s| s.scalar == "ID") {
            for bad in BAD_IDS {
                let (query, variables) = operation(&schema, &f, &slot, bad);
                let (status, body) = post(&app, &query, &variables).await;
                let code = error_code(&body);
                assert!(
                    matches!(code, Some("BAD_USER_INPUT" | "NOT_FOUND")) && status < 500,
                    "{slot:?} with {bad:?}: {status} {body}\n{query}\n{variables}"
                );
                if bad.contains('\u{0}') {
                    assert_eq!(code, Some("BAD_USER_INPUT"), "NUL is never an id: {slot:?} {body}");
                }
                tried += 1;
            }
        }
    }
    assert!(tried > 100, "every id argument of every query and mutation ({tried} requests)");
    assert_eq!(state(&app, &f).await, before, "nothing changed");
}

async fn nul_in_any_string_argument_is_bad_user_input_and_changes_nothing(app: TestApp) {
    let f = app.fixture().await;
    let schema = Schema::read(&app).await;
    let before = state(&app, &f).await;
    let mut tried = 0;
    for root in ["Query", "Mutation"] {
        for slot in slots(&schema, root).into_iter().filter(|s| s.scalar == "String") {
            for bad in ["Ada\u{0}", "\u{0}", "a\u{0}b@example.com"] {
                let (query, variables) = operation(&schema, &f, &slot, bad);
                let (status, body) = post(&app, &query, &variables).await;
                assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{slot:?} with {bad:?}: {status} {body}");
                tried += 1;
            }
            // Other control characters in free text are refused too (newlines and tabs
            // aside), or, where the text is not free (a key), simply do not match.
            let (query, variables) = operation(&schema, &f, &slot, "bell\u{7}\u{1b}[2J");
            let (status, body) = post(&app, &query, &variables).await;
            let code = error_code(&body);
            assert!(
                matches!(code, Some("BAD_USER_INPUT" | "NOT_FOUND" | "UNAUTHENTICATED")) && status < 500,
                "{slot:?}: {status} {body}"
            );
        }
    }
    assert!(tried > 30, "every string argument of every query and mutation ({tried} requests)");
    // The same NUL written into the document itself rather than a variable.
    let (status, body) = post(
        &app,
        "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"Ada\\u0000\", lastName: \"B\"}) { id } }",
        &json!({ "p": f.practice }),
    )
    .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{status} {body}");
    let (status, body) = post(&app, "{ patient(id: \"pat_\\u0000\") { id } }", &json!({})).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{status} {body}");
    assert_eq!(state(&app, &f).await, before, "nothing changed");
}

async fn cursors_that_decode_to_control_characters_are_bad_user_input(app: TestApp) {
    let f = app.fixture().await;
    let schema = Schema::read(&app).await;
    let keys = [
        "\u{0}".to_string(),
        "pat_\u{0}".to_string(),
        "1893456000000:apt_\u{0}".to_string(),
        format!("ev1:{}\u{0}:1", f.practice),
        "ev1:\u{0}:1".to_string(),
        "42\u{0}".to_string(),
        "pat_\u{1}".to_string(),
    ];
    let mut tried = 0;
    for slot in slots(&schema, "Query").into_iter().filter(|s| s.path == ["after"]) {
        for key in &keys {
            let cursor = URL_SAFE_NO_PAD.encode(key);
            let (query, variables) = operation(&schema, &f, &slot, &cursor);
            let (status, body) = post(&app, &query, &variables).await;
            assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{} after {key:?}: {status} {body}", slot.field);
            tried += 1;
        }
    }
    assert!(tried >= 5 * keys.len(), "every paged query ({tried} requests)");
}

async fn control_characters_in_subscription_ids_and_cursors_are_refused(app: TestApp) {
    let f = app.fixture().await;
    let schema = Schema::read(&app).await;
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, ADMIN_KEY).await;
    let mut tried = 0;
    for slot in slots(&schema, "Subscription") {
        let cursor = URL_SAFE_NO_PAD.encode(format!("ev1:{}\u{0}:1", f.practice));
        let bads: Vec<String> = match slot.scalar.as_str() {
            "ID" => BAD_IDS.iter().map(|b| b.to_string()).collect(),
            _ => vec!["\u{0}".into(), cursor],
        };
        for bad in bads {
            tried += 1;
            let id = format!("op{tried}");
            let (query, variables) = operation(&schema, &f, &slot, &bad);
            client.subscribe(&id, &query, variables.clone()).await;
            let answer = client.recv().await.unwrap_or_else(|| panic!("an answer for {slot:?} with {bad:?}"));
            assert_eq!(answer["id"], id.as_str(), "{answer}");
            let code = socket_error_code(&answer);
            assert!(matches!(code, Some("BAD_USER_INPUT" | "NOT_FOUND")), "{slot:?} with {bad:?}: {answer}");
            if bad.contains('\u{0}') {
                assert_eq!(code, Some("BAD_USER_INPUT"), "{slot:?}: {answer}");
            }
            if answer["type"] == "next" {
                let complete = client.recv().await.expect("the operation completes");
                assert_eq!(complete, json!({ "id": id, "type": "complete" }));
            }
        }
    }
    assert!(tried > 20, "every subscription argument ({tried})");
    // The socket is fine afterwards: it still runs operations.
    client.subscribe("ok", "query($p: ID!) { practice(id: $p) { id } }", json!({ "p": f.practice })).await;
    assert_eq!(client.next_data("ok").await["data"]["practice"]["id"], f.practice.as_str());
}

async fn a_key_with_control_characters_is_refused_on_every_door(app: TestApp) {
    let f = app.fixture().await;
    for key in [format!("{}\u{0}", f.backoffice), "cs_\u{0}".into(), "\u{0}".into(), format!("{}\u{1}", f.backoffice)] {
        // Websocket: the key travels in connection_init, where any JSON string can.
        let mut client = WsClient::open(app.addr, TRANSPORT_WS).await;
        client
            .send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } }))
            .await;
        let answer = client.recv().await;
        assert!(answer.is_none(), "no ack for {key:?}: {answer:?}");
        assert_eq!(client.closed().await, Some(4403), "refused as forbidden, not as an internal error");
        // refreshCredentials over a good socket.
        let mut good = WsClient::connect(app.addr, TRANSPORT_WS, &f.backoffice).await;
        good.subscribe("r", "mutation($k: String!) { refreshCredentials(key: $k) }", json!({ "k": key })).await;
        let answer = good.recv().await.expect("an answer");
        let expected = if key.contains('\u{0}') { "BAD_USER_INPUT" } else { "UNAUTHENTICATED" };
        assert_eq!(socket_error_code(&answer), Some(expected), "{key:?}: {answer}");
    }
    // HTTP: a header cannot carry NUL, and the server says so before any work is done.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let body = r#"{"query":"{ practices { edges { cursor } } }"}"#;
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer cs_\u{0}x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let _ = socket.read_to_string(&mut answer).await;
    let status: u16 = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    assert!((400..500).contains(&status), "a 4xx: {answer}");
}

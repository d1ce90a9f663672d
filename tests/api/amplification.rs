//! Fragment-spread amplification: a document of a few hundred bytes whose fragments spread
//! the next one twice expands to millions of selections. Every door refuses it before
//! validation or execution, for every operation type, with or without credentials, and the
//! server's memory and time for the refusal are printed (measured, not asserted).

use serde_json::{Value, json};
use std::time::Instant;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::ws_client::{LEGACY_WS, TRANSPORT_WS, WsClient};
use crate::{multipart_client, sse_client};

/// 22 levels, each spreading the next twice: 2^22 leaves from ~1 KB (the report's document).
const LEVELS: usize = 22;

/// The hostile document: `head` selects `...F0`; fragment `Fi` spreads `F(i+1)` twice.
fn amplified(head: &str, root: &str) -> String {
    let mut text = format!("{head} {{ ...F0 }}");
    for i in 0..LEVELS {
        text.push_str(&format!(" fragment F{i} on {root} {{ ...F{n} ...F{n} }}", n = i + 1));
    }
    text.push_str(&format!(" fragment F{LEVELS} on {root} {{ __typename }}"));
    text
}

/// The same with aliases: under the selection bound, far past the alias bound.
fn aliased() -> String {
    let fields: Vec<String> = (0..40).map(|i| format!("a{i}: __typename")).collect();
    format!("query {{ {} }}", fields.join(" "))
}

fn resident_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|pages| pages.parse::<u64>().ok()).unwrap_or(0) * 4
}

/// Asserts `errors` holds the bound's refusal, naming `limit`.
fn refused(errors: &Value, limit: &str, door: &str) {
    let error = &errors[0];
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{door}: {errors}");
    assert_eq!(error["extensions"]["limit"], limit, "{door}: {errors}");
}

/// Runs `send` and prints what the refusal cost the process (the app runs in it).
async fn measured<T>(door: &str, send: impl std::future::Future<Output = T>) -> T {
    let (before, started) = (resident_kib(), Instant::now());
    let answer = send.await;
    let grew = resident_kib().saturating_sub(before);
    eprintln!("amplification via {door}: refused in {:?}, resident memory +{grew} KiB", started.elapsed());
    answer
}

async fn post(app: &TestApp, key: Option<&str>, body: Value) -> Value {
    let mut request = app.http().post(app.url("/graphql")).json(&body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("sent").json().await.expect("a JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amplified_document_is_refused_over_http_for_every_operation_type_with_or_without_a_key() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let log_before = app.log(&f.practice).await;
    let cases =
        [("query", "Query"), ("mutation", "Mutation"), ("subscription", "Subscription"), ("query @live", "Query")];
    for key in [None, Some(f.backoffice.as_str())] {
        for (head, root) in cases {
            let door = format!("POST {head} (key: {})", key.is_some());
            let body = measured(&door, post(&app, key, json!({ "query": amplified(head, root) }))).await;
            refused(&body["errors"], "MAX_QUERY_SELECTIONS", &door);
        }
        let query = amplified("query", "Query");
        let mut request = app.http().get(app.url("/graphql")).query(&[("query", query.as_str())]);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let body: Value = measured("GET", async { request.send().await.unwrap().json().await.unwrap() }).await;
        refused(&body["errors"], "MAX_QUERY_SELECTIONS", "GET");
        let body = post(&app, key, json!({ "query": aliased() })).await;
        refused(&body["errors"], "MAX_QUERY_ALIASES", "POST aliases");
    }
    // Near the body limit, a document of bare names would cost the parser seconds and
    // a hundred megabytes: it is refused by its token count before it is parsed.
    let names = format!("{{ {} }}", "a ".repeat(450_000));
    let body = measured("POST 900 KB of names", post(&app, None, json!({ "query": names }))).await;
    refused(&body["errors"], "MAX_QUERY_TOKENS", "tokens");
    // In a batch, the amplified operation is refused in its place and the others run.
    let batch = json!([{ "query": amplified("query", "Query") }, { "query": "{ __typename }" }]);
    let answers = post(&app, Some(&f.backoffice), batch).await;
    refused(&answers[0]["errors"], "MAX_QUERY_SELECTIONS", "batch");
    assert_eq!(answers[1]["data"]["__typename"], "Query", "{answers}");
    // The server still answers at once, and nothing was written.
    assert_eq!(app.http().get(app.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(app.log(&f.practice).await, log_before, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amplified_persisted_query_is_refused_by_its_hash_too() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let query = amplified("query", "Query");
    let hash = clinicstream::persisted::sha256_hex(&query);
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let body = post(&app, Some(&f.backoffice), json!({ "query": query, "extensions": extensions })).await;
    refused(&body["errors"], "MAX_QUERY_SELECTIONS", "APQ with its document");
    let body = measured("APQ by hash", post(&app, Some(&f.backoffice), json!({ "extensions": extensions }))).await;
    let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_string();
    assert!(body["data"].is_null(), "the persisted document did not run: {body}");
    assert!(code == "BAD_USER_INPUT" || code == "PERSISTED_QUERY_NOT_FOUND", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amplified_document_is_refused_on_both_websocket_protocols() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut client = WsClient::connect(app.addr, protocol, &f.subscriber).await;
        for (id, (head, root)) in
            [("1", ("subscription", "Subscription")), ("2", ("query", "Query")), ("3", ("query @live", "Query"))]
        {
            let door = format!("{protocol} {head}");
            client.subscribe(id, &amplified(head, root), json!({})).await;
            let answer = measured(&door, client.recv()).await.expect("an answer");
            assert_eq!(answer["type"], "error", "{door}: {answer}");
            assert_eq!(answer["id"], id);
            let errors = if protocol == LEGACY_WS && answer["payload"].is_object() {
                Value::Array(vec![answer["payload"].clone()])
            } else {
                answer["payload"].clone()
            };
            refused(&errors, "MAX_QUERY_SELECTIONS", &door);
        }
        // The socket lives on.
        client.subscribe("4", "{ __typename }", json!({})).await;
        assert_eq!(client.next_data("4").await["data"]["__typename"], "Query");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amplified_document_is_refused_over_sse_and_multipart() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let subscription = amplified("subscription", "Subscription");
    let response = measured("SSE", sse_client::post(&app, Some(&f.subscriber), &subscription, json!({}), None)).await;
    let mut stream = sse_client::SseStream::from_response(response);
    let event = stream.next().await.expect("an answer in the stream");
    refused(&event.json()["errors"], "MAX_QUERY_SELECTIONS", "SSE");
    let response =
        measured("multipart", multipart_client::post(&app, Some(&f.subscriber), &subscription, json!({}))).await;
    let body: Value = response.json().await.expect("a JSON refusal, before any stream");
    refused(&body["errors"], "MAX_QUERY_SELECTIONS", "multipart");
}

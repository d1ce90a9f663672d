//! Apollo's automatic persisted queries and trusted documents: a hash alone is
//! PERSISTED_QUERY_NOT_FOUND until the query came with it; a wrong hash is refused and
//! stores nothing; GET with a hash works; the store lives in the database (every replica
//! sees it), is bounded, and PERSISTED_QUERIES_ONLY runs registered documents only.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, TestApp, code, fresh_db, spawn_app_on, spawn_app_with, spawn_replica_with};
use crate::on_both_backends;
use crate::sse_client::SseStream;
use crate::ws_client::{TRANSPORT_WS, WsClient};
use clinicstream::persisted::sha256_hex;

on_both_backends!(a_hash_alone_is_not_found_until_its_query_came_and_then_works_by_post_and_get);

const QUERY: &str = "{ practices { edges { node { id } } } }";
const CREATE: &str = "mutation { createPractice(input: {name: \"x\", timezone: \"UTC\", currency: \"USD\"}) { id } }";

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn post(app: &TestApp, body: Value) -> Value {
    let response = app.http().post(app.url("/graphql")).bearer_auth(ADMIN_KEY).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200, "application/json answers 200");
    response.json().await.unwrap()
}

async fn get(app: &TestApp, hash: &str) -> Value {
    let extensions = persisted(hash).to_string();
    let response =
        app.http().get(app.url("/graphql")).query(&[("extensions", extensions)]).bearer_auth(ADMIN_KEY).send().await;
    response.unwrap().json().await.unwrap()
}

async fn practices(app: &TestApp) -> usize {
    app.admin(QUERY, json!({})).await["data"]["practices"]["edges"].as_array().unwrap().len()
}

async fn a_hash_alone_is_not_found_until_its_query_came_and_then_works_by_post_and_get(app: TestApp) {
    let hash = sha256_hex(QUERY);
    let missing = post(&app, json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(code(&missing), "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(missing["errors"][0]["message"], "PersistedQueryNotFound", "what Apollo's links look for");
    assert_eq!(code(&get(&app, &hash).await), "PERSISTED_QUERY_NOT_FOUND");
    let stored = post(&app, json!({ "query": QUERY, "extensions": persisted(&hash) })).await;
    assert!(stored["data"]["practices"].is_object(), "{stored}");
    let by_hash = post(&app, json!({ "extensions": persisted(&hash) })).await;
    assert!(by_hash["data"]["practices"].is_object(), "{by_hash}");
    let by_get = get(&app, &hash).await;
    assert!(by_get["data"]["practices"].is_object(), "{by_get}");
}

#[tokio::test]
async fn a_wrong_hash_is_refused_runs_nothing_and_stores_nothing() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}).await else { return };
    let wrong = sha256_hex("something else");
    let refused = post(&app, json!({ "query": CREATE, "extensions": persisted(&wrong) })).await;
    assert_eq!(code(&refused), "BAD_USER_INPUT");
    assert_eq!(refused["errors"][0]["message"], "provided sha does not match query");
    assert_eq!(practices(&app).await, 0, "the mutation did not run");
    assert_eq!(code(&post(&app, json!({ "extensions": persisted(&wrong) })).await), "PERSISTED_QUERY_NOT_FOUND");
    // Anonymous callers' documents are not stored (they would spend the shared store).
    let anonymous = app
        .http()
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ __typename }", "extensions": persisted(&sha256_hex("{ __typename }")) }));
    let _ = anonymous.send().await.unwrap();
    let after_anonymous = post(&app, json!({ "extensions": persisted(&sha256_hex("{ __typename }")) })).await;
    assert_eq!(code(&after_anonymous), "PERSISTED_QUERY_NOT_FOUND");
    let malformed = post(&app, json!({ "query": QUERY, "extensions": { "persistedQuery": { "version": 2 } } })).await;
    assert_eq!(code(&malformed), "BAD_USER_INPUT");
    // By GET, a persisted mutation is still a mutation: 405, and nothing runs.
    let create_hash = sha256_hex(CREATE);
    let _ = post(&app, json!({ "query": CREATE, "extensions": persisted(&create_hash) })).await;
    let extensions = persisted(&create_hash).to_string();
    let by_get = app.http().get(app.url("/graphql")).query(&[("extensions", extensions)]).bearer_auth(ADMIN_KEY);
    assert_eq!(by_get.send().await.unwrap().status(), 405);
    assert_eq!(practices(&app).await, 1, "only the POST created a practice");
}

#[tokio::test]
async fn a_query_persisted_through_one_replica_is_found_by_another() {
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let one = spawn_app_on(&db, |_| {}).await;
    let two = spawn_app_on(&db, |_| {}).await;
    let hash = sha256_hex(QUERY);
    let _ = post(&one, json!({ "query": QUERY, "extensions": persisted(&hash) })).await;
    let found = post(&two, json!({ "extensions": persisted(&hash) })).await;
    assert!(found["data"]["practices"].is_object(), "{found}");
}

#[tokio::test]
async fn the_store_is_bounded_least_recently_used_first_and_keeps_registered_documents() {
    let Some(db) = fresh_db(Backend::Sqlite).await else { return };
    let clock = std::sync::Arc::new(clinicstream::clock::ManualClock::new(chrono::Utc::now()));
    let app = spawn_replica_with(&db, clock.clone(), |c| c.clients.persisted_queries_max = 2).await;
    let registered = "{ __typename }";
    app.state().persisted.store().register(registered, 0).await.unwrap();
    let documents: Vec<String> = (0..3).map(|i| format!("query Q{i} {{ __typename }}")).collect();
    for document in &documents {
        // Recency is kept in milliseconds of the app's clock: one apart, so "least recently
        // used" is defined.
        clock.advance(chrono::Duration::milliseconds(1));
        let body = post(&app, json!({ "query": document, "extensions": persisted(&sha256_hex(document)) })).await;
        assert_eq!(body["data"]["__typename"], "Query");
    }
    let oldest = post(&app, json!({ "extensions": persisted(&sha256_hex(&documents[0])) })).await;
    assert_eq!(code(&oldest), "PERSISTED_QUERY_NOT_FOUND", "the least recently used went first");
    for document in [&documents[1], &documents[2], &registered.to_string()] {
        let kept = post(&app, json!({ "extensions": persisted(&sha256_hex(document)) })).await;
        assert_eq!(kept["data"]["__typename"], "Query", "{document} is kept");
    }
}

#[tokio::test]
async fn persisted_queries_only_runs_registered_documents_and_stores_nothing_new() {
    let Some(db) = fresh_db(Backend::Sqlite).await else { return };
    // Registered ahead of time with the command an operator runs.
    let file = std::env::temp_dir().join(format!("cs-trusted-{}.graphql", uuid::Uuid::now_v7().simple()));
    std::fs::write(&file, QUERY).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_clinicstream"))
        .args(["persisted-queries", "register", file.to_str().unwrap()])
        .env("DATABASE_URL", &db.url)
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_file(&file);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), sha256_hex(QUERY));
    let app = spawn_app_on(&db, |c| c.clients.persisted_queries_only = true).await;
    assert!(post(&app, json!({ "query": QUERY })).await["data"]["practices"].is_object(), "registered, sent in full");
    let by_hash = post(&app, json!({ "extensions": persisted(&sha256_hex(QUERY)) })).await;
    assert!(by_hash["data"]["practices"].is_object(), "registered, sent by hash");
    let other = post(&app, json!({ "query": CREATE })).await;
    assert_eq!(code(&other), "PERSISTED_QUERY_NOT_IN_LIST");
    let hash = sha256_hex(CREATE);
    let offered = post(&app, json!({ "query": CREATE, "extensions": persisted(&hash) })).await;
    assert_eq!(code(&offered), "PERSISTED_QUERY_NOT_IN_LIST", "clients cannot register documents themselves");
    assert_eq!(code(&post(&app, json!({ "extensions": persisted(&hash) })).await), "PERSISTED_QUERY_NOT_FOUND");
    let mut ws = WsClient::connect(app.addr, TRANSPORT_WS, ADMIN_KEY).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": CREATE } })).await;
    let refused = ws.recv().await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_IN_LIST");
}

#[tokio::test]
async fn persisted_queries_work_over_websockets_and_sse() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}).await else { return };
    let hash = sha256_hex(QUERY);
    let mut ws = WsClient::connect(app.addr, TRANSPORT_WS, ADMIN_KEY).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": "", "extensions": persisted(&hash) } }))
        .await;
    let missing = ws.recv().await.unwrap();
    assert_eq!(missing["type"], "error", "{missing}");
    assert_eq!(missing["payload"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND");
    ws.send(json!({ "id": "2", "type": "subscribe", "payload": { "query": QUERY, "extensions": persisted(&hash) } }))
        .await;
    let answer = ws.next_data("2").await;
    assert!(answer["data"]["practices"].is_object(), "{answer}");
    let response = app
        .http()
        .post(app.url("/graphql/stream"))
        .header("accept", "text/event-stream")
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "extensions": persisted(&hash) }))
        .send()
        .await
        .unwrap();
    let mut stream = SseStream::from_response(response);
    let (_, data) = stream.next_data().await;
    assert!(data["data"]["practices"].is_object(), "{data}");
}

//! Batched POSTs: a JSON array answers an array in order; at most MAX_BATCH operations;
//! each one authorised, limited and counted on its own.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, TestApp, code, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(a_batch_answers_an_array_in_order_each_operation_authorised_on_its_own);

const CREATE: &str =
    "mutation($n: String!) { createPractice(input: {name: $n, timezone: \"UTC\", currency: \"USD\"}) { id name } }";

async fn batch(app: &TestApp, key: &str, operations: Value) -> reqwest::Response {
    app.http().post(app.url("/graphql")).bearer_auth(key).json(&operations).send().await.unwrap()
}

async fn practices(app: &TestApp) -> usize {
    let body = app.admin("{ practices { edges { node { id } } } }", json!({})).await;
    body["data"]["practices"]["edges"].as_array().unwrap().len()
}

async fn a_batch_answers_an_array_in_order_each_operation_authorised_on_its_own(app: TestApp) {
    let f = app.fixture().await;
    let response = batch(
        &app,
        ADMIN_KEY,
        json!([
            { "query": CREATE, "variables": { "n": "First" } },
            { "query": "query($p: ID!) { practice(id: $p) { id } }", "variables": { "p": f.practice } },
            { "query": "{ nope }" },
            { "query": CREATE, "variables": { "n": "Second" } },
        ]),
    )
    .await;
    assert_eq!(response.status(), 200);
    let answers: Vec<Value> = response.json().await.unwrap();
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[0]["data"]["createPractice"]["name"], "First");
    assert_eq!(answers[1]["data"]["practice"]["id"], f.practice.as_str());
    assert_eq!(code(&answers[2]), "BAD_USER_INPUT", "one operation's error is its own");
    assert_eq!(answers[3]["data"]["createPractice"]["name"], "Second");
    // A SUBSCRIBER's batch: its query runs, its mutation is FORBIDDEN and changes nothing.
    let before = practices(&app).await;
    let answers: Vec<Value> = batch(
        &app,
        &f.subscriber,
        json!([
            { "query": "query($p: ID!) { practice(id: $p) { id } }", "variables": { "p": f.practice } },
            { "query": CREATE, "variables": { "n": "Not allowed" } },
        ]),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(answers[0]["data"]["practice"]["id"], f.practice.as_str());
    assert_eq!(code(&answers[1]), "FORBIDDEN");
    assert_eq!(practices(&app).await, before);
}

#[tokio::test]
async fn a_batch_over_max_batch_is_refused_and_runs_nothing() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| c.clients.max_batch = 2).await else { return };
    let three: Vec<Value> = (0..3).map(|i| json!({ "query": CREATE, "variables": { "n": format!("P{i}") } })).collect();
    let response = batch(&app, ADMIN_KEY, Value::Array(three)).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("MAX_BATCH"), "{body}");
    assert_eq!(practices(&app).await, 0);
    let empty = batch(&app, ADMIN_KEY, json!([])).await;
    assert_eq!(empty.status(), 400);
    let two = batch(&app, ADMIN_KEY, json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }])).await;
    assert_eq!(two.status(), 200);
}

#[tokio::test]
async fn each_operation_of_a_batch_spends_its_own_rate_token() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.rate_limit_per_sec = 1;
        c.rate_limit_burst = 3;
    })
    .await
    else {
        return;
    };
    let four: Vec<Value> = (0..4).map(|_| json!({ "query": "{ __typename }" })).collect();
    let answers: Vec<Value> = batch(&app, ADMIN_KEY, Value::Array(four)).await.json().await.unwrap();
    let limited = answers.iter().filter(|a| a["errors"][0]["extensions"]["code"] == "RATE_LIMITED").count();
    assert_eq!(answers[0]["data"]["__typename"], "Query");
    assert!(limited >= 1, "the bucket of 3 does not cover 4 operations: {answers:?}");
}

#[tokio::test]
async fn a_mutation_by_get_is_refused_even_beside_a_query_in_one_document() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}).await else { return };
    let document = "query Q { __typename } \
                    mutation M { createPractice(input: {name: \"x\", timezone: \"UTC\", currency: \"USD\"}) { id } }";
    for (name, status) in [("M", 405), ("Q", 200)] {
        let response = app
            .http()
            .get(app.url("/graphql"))
            .query(&[("query", document), ("operationName", name)])
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "operation {name}: {}", response.text().await.unwrap());
    }
    assert_eq!(practices(&app).await, 0, "the GET mutation did not run");
}

/// `clinicstream_graphql_request_duration_seconds_count` for `operation`, read from /metrics.
async fn counted(app: &TestApp, operation: &str) -> u64 {
    let text = app.http().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let prefix = format!("clinicstream_graphql_request_duration_seconds_count{{operation=\"{operation}\"}}");
    text.lines()
        .find(|line| line.starts_with(&prefix))
        .and_then(|line| line.rsplit(' ').next())
        .map_or(0, |n| n.parse::<f64>().unwrap() as u64)
}

#[tokio::test]
async fn each_operation_of_a_batch_is_counted_on_its_own() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| c.clients.max_batch = 4).await else { return };
    let (queries, mutations) = (counted(&app, "query").await, counted(&app, "mutation").await);
    let operations = json!([
        { "query": "{ __typename }" },
        { "query": CREATE, "variables": { "n": "Counted" } },
        { "query": "{ __typename }" },
        { "query": "{ __typename }" },
    ]);
    assert_eq!(batch(&app, ADMIN_KEY, operations).await.status(), 200);
    let five: Vec<Value> = (0..5).map(|_| json!({ "query": "{ __typename }" })).collect();
    assert_eq!(batch(&app, ADMIN_KEY, Value::Array(five)).await.status(), 400);
    assert_eq!(counted(&app, "query").await - queries, 3, "three queries ran; the refused batch ran none");
    assert_eq!(counted(&app, "mutation").await - mutations, 1);
}

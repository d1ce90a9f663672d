//! GraphQL over HTTP details: GET queries, mutations only by POST, media types, GraphiQL, health.

use crate::helpers::{ADMIN_KEY, Backend, spawn_app};

#[tokio::test]
async fn get_runs_queries_but_not_mutations() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let http = app.http();
    let ok = http.get(app.url("/graphql?query=%7B__typename%7D")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<serde_json::Value>().await.unwrap()["data"]["__typename"], "Query");
    let mutation = http
        .get(app.url("/graphql?query=mutation%7BcreatePractice(input%3A%7Bname%3A%22x%22%2Ctimezone%3A%22UTC%22%2Ccurrency%3A%22USD%22%7D)%7Bid%7D%7D"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(mutation.status(), 405);
    assert_eq!(mutation.headers()["allow"], "POST");
    let practices = app.admin("{ practices { edges { node { id } } } }", serde_json::json!({})).await;
    assert_eq!(practices["data"]["practices"]["edges"].as_array().unwrap().len(), 0, "the GET mutation did not run");
}

#[tokio::test]
async fn graphql_response_media_type_gets_status_codes() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let response = app
        .http()
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .body(r#"{"query":"{ nope }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/graphql-response+json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body.get("data").is_none(), "a request error has no data: {body}");
    let plain = app
        .http()
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(r#"{"query":"{ nope }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn browsers_get_graphiql_and_probes_get_health() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let page = app.http().get(app.url("/graphql")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("graphiql") || html.contains("GraphiQL"), "{html}");
    assert_eq!(app.http().get(app.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(app.http().get(app.url("/readyz")).send().await.unwrap().status(), 200);
    let bare = app.http().get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(bare.status(), 400, "no query and not a browser");
}

#[tokio::test]
async fn the_introspection_query_graphiql_sends_fits_the_limits() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let query = include_str!("introspection.graphql");
    let body = app.gql(None, query, serde_json::json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert!(body["data"]["__schema"]["types"].as_array().unwrap().len() > 20);
}

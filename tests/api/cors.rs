//! Cross-origin access: `CORS_ALLOWED_ORIGINS` origins get preflights and CORS headers on
//! `/graphql` and `/graphql/stream`; any other origin (but the server's own) is refused
//! with 403 before anything runs, websocket upgrades included. No `Origin`: not a browser.

use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::{ADMIN_KEY, Backend, TestApp, code, spawn_app, spawn_app_with};

const ALLOWED: &str = "http://app.example:3000";
const REFUSED: &str = "http://evil.example";
const CREATE: &str = "mutation { createPractice(input: {name: \"x\", timezone: \"UTC\", currency: \"USD\"}) { id } }";

async fn with_allowed_origin() -> Option<TestApp> {
    spawn_app_with(Backend::Sqlite, |c| c.clients.cors_allowed_origins = vec![ALLOWED.into()]).await
}

async fn practices(app: &TestApp) -> usize {
    let body = app.admin("{ practices { edges { node { id } } } }", json!({})).await;
    body["data"]["practices"]["edges"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_listed_origin_gets_preflights_that_allow_the_headers_and_methods_each_path_serves() {
    let Some(app) = with_allowed_origin().await else { return };
    for path in ["/graphql", "/graphql/stream"] {
        let preflight = app
            .http()
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", ALLOWED)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type,last-event-id")
            .send()
            .await
            .unwrap();
        assert!(preflight.status().is_success(), "{path}: {}", preflight.status());
        let headers = preflight.headers();
        assert_eq!(headers["access-control-allow-origin"], ALLOWED, "{path}");
        let methods = headers["access-control-allow-methods"].to_str().unwrap().to_ascii_uppercase();
        assert!(methods.contains("GET") && methods.contains("POST"), "{path}: {methods}");
        let allowed = headers["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
        for header in ["authorization", "content-type", "last-event-id"] {
            assert!(allowed.contains(header), "{path}: {allowed} lacks {header}");
        }
    }
    let response = app
        .http()
        .post(app.url("/graphql"))
        .header("origin", ALLOWED)
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], ALLOWED);
}

#[tokio::test]
async fn another_origin_is_refused_with_403_and_its_mutation_changes_nothing() {
    let Some(app) = with_allowed_origin().await else { return };
    let preflight = app
        .http()
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("origin", REFUSED)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 403);
    assert!(preflight.headers().get("access-control-allow-origin").is_none());
    let response = app
        .http()
        .post(app.url("/graphql"))
        .header("origin", REFUSED)
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "query": CREATE }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(code(&body), "FORBIDDEN");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("CORS_ALLOWED_ORIGINS"));
    let stream = app
        .http()
        .post(app.url("/graphql/stream"))
        .header("origin", REFUSED)
        .header("accept", "text/event-stream")
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "query": CREATE }))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 403);
    assert_eq!(practices(&app).await, 0, "no refused request ran");
}

#[tokio::test]
async fn with_no_origins_listed_only_the_servers_own_origin_and_non_browsers_pass() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let own = format!("http://{}", app.addr);
    for (origin, status) in [(Some(own.as_str()), 200), (None, 200), (Some(ALLOWED), 403)] {
        let mut request = app.http().post(app.url("/graphql")).json(&json!({ "query": "{ __typename }" }));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        assert_eq!(request.send().await.unwrap().status(), status, "origin {origin:?}");
    }
}

/// The upgrade's HTTP status: 101 when the socket opened.
async fn upgrade_status(app: &TestApp, origin: Option<&str>) -> u16 {
    let mut request = format!("ws://{}/graphql", app.addr).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
    if let Some(origin) = origin {
        request.headers_mut().insert("Origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected websocket error: {other}"),
    }
}

#[tokio::test]
async fn websocket_upgrades_check_the_origin_against_the_same_list() {
    let Some(app) = with_allowed_origin().await else { return };
    let own = format!("http://{}", app.addr);
    assert_eq!(upgrade_status(&app, Some(ALLOWED)).await, 101);
    assert_eq!(upgrade_status(&app, Some(&own)).await, 101, "the server's own pages (GraphiQL, the dashboard)");
    assert_eq!(upgrade_status(&app, None).await, 101, "clients that send no Origin are not browsers");
    assert_eq!(upgrade_status(&app, Some(REFUSED)).await, 403, "cross-site websocket hijacking is refused");
}

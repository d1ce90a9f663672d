//! `graphql-transport-ws` cases that end in a close: each asserts the exact code.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::{Error, Message};

use super::transport_ws::{P, ready, subscribe};
use super::{client::*, *};

#[tokio::test]
async fn init_timeout_closes_4408() {
    let server = start(WsConfig { init_timeout: Duration::from_millis(200), ..config() }).await;
    let mut client = connect(&server, P).await;
    let started = Instant::now();
    let (code, reason, seen) = expect_close(&mut client).await;
    assert_eq!((code, reason.as_str()), (4408, "Connection initialisation timeout"));
    assert!(seen.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn second_init_closes_4429() {
    let (_server, mut client) = ready().await;
    send(&mut client, json!({"type": "connection_init"})).await;
    let (code, reason, _) = expect_close(&mut client).await;
    assert_eq!((code, reason.as_str()), (4429, "Too many initialisation requests"));
}

#[tokio::test]
async fn subscribe_before_ack_closes_4401() {
    let server = start(config()).await;
    let mut client = connect(&server, P).await;
    send(&mut client, subscribe("1", "{ hello }")).await;
    let (code, reason, _) = expect_close(&mut client).await;
    assert_eq!((code, reason.as_str()), (4401, "Unauthorized"));
}

#[tokio::test]
async fn bad_auth_closes_4403() {
    let server = start(config()).await;
    let mut client = connect(&server, P).await;
    send(&mut client, json!({"type": "connection_init", "payload": {"authorization": "Bearer bad"}})).await;
    let (code, reason, seen) = expect_close(&mut client).await;
    assert_eq!(code, 4403);
    assert!(reason.starts_with("Forbidden"), "{reason}");
    assert!(seen.is_empty(), "no message before the close: {seen:?}");
}

#[tokio::test]
async fn duplicate_id_closes_4409() {
    let (_server, mut client) = ready().await;
    send(&mut client, subscribe("a", "subscription { ticks(n: 1000) }")).await;
    send(&mut client, subscribe("a", "subscription { ticks(n: 1) }")).await;
    let (code, reason, _) = expect_close(&mut client).await;
    assert_eq!((code, reason.as_str()), (4409, "Subscriber for a already exists"));
}

#[tokio::test]
async fn malformed_messages_close_4400() {
    let huge_type = "x".repeat(10_000);
    let cases = [
        Message::Text("{not json".into()),
        Message::Text("[1,2]".into()),
        Message::Text(json!({"type": huge_type}).to_string().into()),
        Message::Text(json!({"type": "next", "id": "1", "payload": {}}).to_string().into()),
        Message::Text(json!({"type": "subscribe", "payload": {"query": "{ hello }"}}).to_string().into()),
        Message::Text(json!({"type": "subscribe", "id": "1"}).to_string().into()),
        Message::Text(json!({"type": "subscribe", "id": "1", "payload": {"query": 1}}).to_string().into()),
        Message::Text(json!({"type": "complete", "id": 5}).to_string().into()),
        Message::Binary(vec![1, 2, 3].into()),
    ];
    let server = start(config()).await;
    for case in cases {
        let mut client = connect(&server, P).await;
        init(&mut client).await;
        client.send(case.clone()).await.expect("send");
        let (code, reason, _) = expect_close(&mut client).await;
        assert_eq!(code, 4400, "{case:?} gave {reason}");
        assert!(!reason.is_empty() && reason.len() <= 123, "{reason}");
    }
}

#[tokio::test]
async fn oversized_message_closes_1009() {
    let (_server, mut client) = ready().await;
    let query = format!("{{ hello }} # {}", "x".repeat(20 * 1024));
    send(&mut client, subscribe("1", &query)).await;
    let (code, _, _) = expect_close(&mut client).await;
    assert_eq!(code, 1009);
}

#[tokio::test]
async fn unsupported_subprotocol_is_http_400() {
    let server = start(config()).await;
    for protocol in [None, Some("foo"), Some("graphql-transport-ws-2, GRAPHQL-WS")] {
        match try_connect(&server, protocol, None).await {
            Err(Error::Http(response)) => assert_eq!(response.status(), 400),
            other => panic!("{protocol:?}: expected HTTP 400, got {:?}", other.map(|_| ())),
        }
    }
    // The first supported protocol in the client's list wins.
    let mut client = connect(&server, "foo, graphql-ws, graphql-transport-ws").await;
    init(&mut client).await;
    assert_eq!(recv(&mut client).await, json!({"type": "ka"}));
}

#[tokio::test]
async fn shutdown_closes_1001() {
    let (server, mut client) = ready().await;
    send(&mut client, subscribe("1", "subscription { ticks(n: 1000) }")).await;
    assert_eq!(recv(&mut client).await["type"], "next");
    server.shutdown.cancel();
    let (code, reason, _) = expect_close(&mut client).await;
    assert_eq!((code, reason.as_str()), (1001, "Server shutting down"));
}

//! Legacy `graphql-ws` (subscriptions-transport-ws) cases.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use super::{client::*, *};

const P: &str = "graphql-ws";

fn start_op(id: &str, query: &str) -> Value {
    json!({"id": id, "type": "start", "payload": {"query": query}})
}

/// Connected, acknowledged, and past the immediate keep-alive.
async fn ready() -> (Server, Client) {
    let server = start(config()).await;
    let mut client = connect(&server, P).await;
    init(&mut client).await;
    assert_eq!(recv(&mut client).await, json!({"type": "ka"}));
    (server, client)
}

#[tokio::test]
async fn subscription_streams_data_then_complete() {
    let (_server, mut client) = ready().await;
    send(&mut client, start_op("1", "subscription { ticks(n: 2) }")).await;
    let messages = until_complete(&mut client, "1").await;
    assert_eq!(
        messages,
        vec![
            json!({"id": "1", "type": "data", "payload": {"data": {"ticks": 0}}}),
            json!({"id": "1", "type": "data", "payload": {"data": {"ticks": 1}}}),
            json!({"id": "1", "type": "complete"}),
        ]
    );
}

#[tokio::test]
async fn query_over_ws() {
    let (_server, mut client) = ready().await;
    send(&mut client, start_op("q", "{ hello whoami }")).await;
    let messages = until_complete(&mut client, "q").await;
    assert_eq!(messages[0]["payload"], json!({"data": {"hello": "world", "whoami": "alice"}}));
}

#[tokio::test]
async fn start_before_ack_is_queued_until_auth() {
    // subscriptions-transport-ws sends `start` right after `connection_init`.
    let server = start(config()).await;
    let mut client = connect(&server, P).await;
    send(&mut client, json!({"type": "connection_init", "payload": {"authorization": "Bearer good"}})).await;
    send(&mut client, start_op("1", "{ hello }")).await;
    assert_eq!(recv(&mut client).await, json!({"type": "connection_ack"}));
    assert_eq!(recv(&mut client).await, json!({"type": "ka"}));
    assert_eq!(until_complete(&mut client, "1").await.len(), 2);
}

#[tokio::test]
async fn start_without_init_closes_4401() {
    let server = start(config()).await;
    let mut client = connect(&server, P).await;
    send(&mut client, start_op("1", "{ hello }")).await;
    let (code, _, _) = expect_close(&mut client).await;
    assert_eq!(code, 4401);
}

#[tokio::test]
async fn bad_auth_sends_connection_error_then_4403() {
    let server = start(config()).await;
    let mut client = connect(&server, P).await;
    send(&mut client, json!({"type": "connection_init", "payload": {}})).await;
    let (code, _, seen) = expect_close(&mut client).await;
    assert_eq!(code, 4403);
    assert_eq!(seen, vec![json!({"type": "connection_error", "payload": {"message": "bad token"}})]);
}

#[tokio::test]
async fn init_timeout_closes_4408() {
    let server = start(WsConfig { init_timeout: Duration::from_millis(200), ..config() }).await;
    let mut client = connect(&server, P).await;
    let (code, _, _) = expect_close(&mut client).await;
    assert_eq!(code, 4408);
}

#[tokio::test]
async fn stop_sends_complete() {
    let (_server, mut client) = ready().await;
    send(&mut client, start_op("s", "subscription { ticks(n: 1000) }")).await;
    assert_eq!(recv(&mut client).await["type"], "data");
    send(&mut client, json!({"id": "s", "type": "stop"})).await;
    let messages = until_complete(&mut client, "s").await;
    assert!(messages[..messages.len() - 1].iter().all(|m| m["type"] == "data"));
    expect_silence(&mut client, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn duplicate_id_closes_4409() {
    let (_server, mut client) = ready().await;
    send(&mut client, start_op("a", "subscription { ticks(n: 1000) }")).await;
    send(&mut client, start_op("a", "{ hello }")).await;
    let (code, _, _) = expect_close(&mut client).await;
    assert_eq!(code, 4409);
}

#[tokio::test]
async fn malformed_messages_close_4400() {
    let cases = [
        Message::Text("nope".into()),
        Message::Text(json!({"type": "subscribe", "id": "1", "payload": {"query": "{ hello }"}}).to_string().into()),
        Message::Text(json!({"type": "ping"}).to_string().into()),
        Message::Text(json!({"type": "start", "id": "1", "payload": "{ hello }"}).to_string().into()),
        Message::Binary(vec![0].into()),
    ];
    let server = start(config()).await;
    for case in cases {
        let mut client = connect(&server, P).await;
        client.send(case.clone()).await.expect("send");
        let (code, reason, _) = expect_close(&mut client).await;
        assert_eq!(code, 4400, "{case:?} gave {reason}");
    }
}

#[tokio::test]
async fn validation_error_is_single_error_object() {
    let (_server, mut client) = ready().await;
    send(&mut client, start_op("v", "{ nope }")).await;
    let message = recv(&mut client).await;
    assert_eq!((&message["id"], &message["type"]), (&json!("v"), &json!("error")));
    assert!(message["payload"]["message"].as_str().is_some_and(|m| m.contains("nope")), "{message}");
    expect_silence(&mut client, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn connection_terminate_closes_1000() {
    let (_server, mut client) = ready().await;
    send(&mut client, json!({"type": "connection_terminate"})).await;
    let (code, _, _) = expect_close(&mut client).await;
    assert_eq!(code, 1000);
}

#[tokio::test]
async fn keepalive_repeats() {
    let server = start(WsConfig { keepalive: Duration::from_millis(100), ..config() }).await;
    let mut client = connect(&server, P).await;
    init(&mut client).await;
    for _ in 0..3 {
        assert_eq!(recv(&mut client).await, json!({"type": "ka"}));
    }
}

#[tokio::test]
async fn shutdown_closes_1001() {
    let (server, mut client) = ready().await;
    server.shutdown.cancel();
    let (code, _, _) = expect_close(&mut client).await;
    assert_eq!(code, 1001);
}

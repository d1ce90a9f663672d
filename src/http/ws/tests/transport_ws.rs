//! `graphql-transport-ws` cases, each asserting the exact close code where one is due.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use super::{client::*, *};

pub(super) const P: &str = "graphql-transport-ws";

pub(super) fn subscribe(id: &str, query: &str) -> Value {
    json!({"id": id, "type": "subscribe", "payload": {"query": query}})
}

pub(super) async fn ready() -> (Server, Client) {
    let server = start(config()).await;
    let mut client = connect(&server, P).await;
    init(&mut client).await;
    (server, client)
}

#[tokio::test]
async fn subscription_streams_next_then_complete() {
    let (_server, mut client) = ready().await;
    send(&mut client, subscribe("1", "subscription { ticks(n: 3) }")).await;
    let messages = until_complete(&mut client, "1").await;
    let expected: Vec<Value> = (0..3)
        .map(|i| json!({"id": "1", "type": "next", "payload": {"data": {"ticks": i}}}))
        .chain([json!({"id": "1", "type": "complete"})])
        .collect();
    assert_eq!(messages, expected);
}

#[tokio::test]
async fn query_and_mutation_carry_session_data_and_free_the_id() {
    let (_server, mut client) = ready().await;
    for (query, data) in
        [("{ hello whoami }", json!({"hello": "world", "whoami": "alice"})), ("mutation { bump }", json!({"bump": 1}))]
    {
        send(&mut client, subscribe("1", query)).await;
        let messages = until_complete(&mut client, "1").await;
        assert_eq!(messages[0], json!({"id": "1", "type": "next", "payload": {"data": data}}));
        assert_eq!(messages.len(), 2);
    }
}

#[tokio::test]
async fn ping_gets_pong_even_before_init() {
    let server = start(config()).await;
    let mut client = connect(&server, P).await;
    send(&mut client, json!({"type": "ping", "payload": {"n": 1}})).await;
    assert_eq!(recv(&mut client).await, json!({"type": "pong", "payload": {"n": 1}}));
    send(&mut client, json!({"type": "ping"})).await;
    assert_eq!(recv(&mut client).await, json!({"type": "pong"}));
    send(&mut client, json!({"type": "pong"})).await;
    expect_silence(&mut client, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn authorization_header_is_passed_to_auth() {
    let server = start(config()).await;
    let mut client = try_connect(&server, Some(P), Some("Bearer good")).await.expect("connect");
    send(&mut client, json!({"type": "connection_init"})).await;
    assert_eq!(recv(&mut client).await, json!({"type": "connection_ack"}));
}

#[tokio::test]
async fn client_complete_stops_operation_and_frees_id() {
    let (_server, mut client) = ready().await;
    send(&mut client, subscribe("s", "subscription { ticks(n: 1000) }")).await;
    assert_eq!(recv(&mut client).await["type"], "next");
    send(&mut client, json!({"id": "s", "type": "complete"})).await;
    send(&mut client, json!({"type": "ping"})).await;
    // Results already in flight may precede the pong; nothing may follow it.
    loop {
        let message = recv(&mut client).await;
        if message["type"] == "pong" {
            break;
        }
        assert_eq!(message["type"], "next", "{message}");
    }
    expect_silence(&mut client, Duration::from_millis(200)).await;
    send(&mut client, subscribe("s", "subscription { ticks(n: 1) }")).await;
    assert_eq!(until_complete(&mut client, "s").await.len(), 2);
}

#[tokio::test]
async fn validation_error_is_error_without_complete() {
    let (_server, mut client) = ready().await;
    send(&mut client, subscribe("v", "subscription { nope }")).await;
    let message = recv(&mut client).await;
    assert_eq!((&message["id"], &message["type"]), (&json!("v"), &json!("error")));
    let errors = message["payload"].as_array().expect("payload is GraphQLError[]");
    assert!(errors[0]["message"].as_str().is_some_and(|m| m.contains("nope")), "{message}");
    assert!(errors[0]["locations"].is_array());
    send(&mut client, json!({"type": "ping"})).await;
    assert_eq!(recv(&mut client).await, json!({"type": "pong"}));
    // The id is free again right away.
    send(&mut client, subscribe("v", "{ hello }")).await;
    assert_eq!(until_complete(&mut client, "v").await.len(), 2);
}

#[tokio::test]
async fn resolver_error_is_next_then_complete() {
    let (_server, mut client) = ready().await;
    send(&mut client, subscribe("f", "subscription { fail }")).await;
    let messages = until_complete(&mut client, "f").await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["type"], "next");
    assert_eq!(messages[0]["payload"]["errors"][0]["message"], "boom");
    assert_eq!(messages[0]["payload"]["errors"][0]["path"], json!(["fail"]));
}

#[tokio::test]
async fn client_close_is_answered() {
    let (_server, mut client) = ready().await;
    send(&mut client, subscribe("1", "subscription { ticks(n: 1000) }")).await;
    client.close(None).await.expect("close");
    // The server completes the handshake: the stream ends without an error.
    loop {
        match tokio::time::timeout(WAIT, client.next()).await.expect("timed out") {
            None => break,
            Some(Ok(_)) => {}
            Some(Err(err)) => panic!("unclean close: {err}"),
        }
    }
}

#[tokio::test]
async fn keepalive_pings_after_ack() {
    let server = start(WsConfig { keepalive: Duration::from_millis(100), ..config() }).await;
    let mut client = connect(&server, P).await;
    init(&mut client).await;
    assert_eq!(recv(&mut client).await, json!({"type": "ping"}));
    send(&mut client, json!({"type": "pong"})).await;
    assert_eq!(recv(&mut client).await, json!({"type": "ping"}));
}

#[tokio::test]
async fn serve_works_without_upgrade_helper() {
    let server = start(config()).await;
    let mut client = try_connect_to(&server.raw_url, Some(P), None).await.expect("connect");
    init(&mut client).await;
    send(&mut client, subscribe("1", "{ whoami }")).await;
    let messages = until_complete(&mut client, "1").await;
    assert_eq!(messages[0]["payload"], json!({"data": {"whoami": "alice"}}));
}

//! Client side of the fixture: a tokio-tungstenite connection plus small helpers that
//! fail the test (with context) on timeouts or unexpected frames.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest},
};

use super::{Server, WAIT};

pub(super) type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Upgrade with the given Sec-WebSocket-Protocol (and optional Authorization) header.
pub(super) async fn try_connect(
    server: &Server,
    protocol: Option<&str>,
    authorization: Option<&str>,
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    try_connect_to(&server.url, protocol, authorization).await
}

pub(super) async fn try_connect_to(
    url: &str,
    protocol: Option<&str>,
    authorization: Option<&str>,
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let mut request = url.into_client_request().expect("request");
    if let Some(protocol) = protocol {
        request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().expect("header"));
    }
    if let Some(authorization) = authorization {
        request.headers_mut().insert("Authorization", authorization.parse().expect("header"));
    }
    let (client, response) = connect_async(request).await?;
    let echoed = response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok());
    assert!(echoed.is_some(), "server must echo the chosen subprotocol");
    Ok(client)
}

pub(super) async fn connect(server: &Server, protocol: &str) -> Client {
    try_connect(server, Some(protocol), None).await.expect("connect")
}

pub(super) async fn send(client: &mut Client, message: Value) {
    client.send(Message::Text(message.to_string().into())).await.expect("send");
}

pub(super) async fn init(client: &mut Client) {
    send(client, json!({"type": "connection_init", "payload": {"authorization": "Bearer good"}})).await;
    assert_eq!(recv(client).await, json!({"type": "connection_ack"}));
}

/// Next text message as JSON; panics on timeout, close or non-text frames.
pub(super) async fn recv(client: &mut Client) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, client.next()).await.expect("timed out waiting for a message");
        match message {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str()).expect("server sent JSON");
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Asserts that nothing arrives within `within`.
pub(super) async fn expect_silence(client: &mut Client, within: Duration) {
    if let Ok(message) = tokio::time::timeout(within, client.next()).await {
        panic!("expected silence, got {message:?}");
    }
}

/// Reads until the close frame; returns its code and reason plus the text messages seen.
pub(super) async fn expect_close(client: &mut Client) -> (u16, String, Vec<Value>) {
    let mut seen = Vec::new();
    loop {
        let message = tokio::time::timeout(WAIT, client.next()).await.expect("timed out waiting for close");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (frame.code.into(), frame.reason.to_string(), seen);
            }
            Some(Ok(Message::Text(text))) => seen.push(serde_json::from_str(text.as_str()).expect("JSON")),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Collects messages for operation `id` up to and including its `complete`.
pub(super) async fn until_complete(client: &mut Client, id: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    loop {
        let message = recv(client).await;
        assert_eq!(message["id"], id, "unexpected message {message}");
        let done = message["type"] == "complete";
        messages.push(message);
        if done {
            return messages;
        }
    }
}

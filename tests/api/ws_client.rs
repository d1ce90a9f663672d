//! A small websocket GraphQL client speaking either subprotocol, for asserting exact frames.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
pub const LEGACY_WS: &str = "graphql-ws";

pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: &'static str,
    /// Messages read ahead and put back, returned first by `recv`.
    pending: std::collections::VecDeque<Value>,
    /// The close code the server sent, once `recv` has seen its close frame.
    close_code: Option<u16>,
    /// The reason of the server's close frame, once it came.
    pub close_reason: Option<String>,
}

impl WsClient {
    /// Opens a socket without initialising it.
    pub async fn open(addr: SocketAddr, protocol: &'static str) -> Self {
        let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
        let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket connects");
        Self { socket, protocol, pending: Default::default(), close_code: None, close_reason: None }
    }

    /// Opens and initialises with `key`, expecting the ack.
    pub async fn connect(addr: SocketAddr, protocol: &'static str, key: &str) -> Self {
        let mut client = Self::open(addr, protocol).await;
        client
            .send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } }))
            .await;
        let ack = client.recv().await.expect("an answer to connection_init");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    pub async fn send(&mut self, message: Value) {
        self.socket.send(Message::Text(message.to_string().into())).await.expect("send");
    }

    /// Sends any text frame, well-formed or not.
    pub async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::Text(text.to_string().into())).await.expect("send");
    }

    /// Starts an operation under `id`, in the client's protocol.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.protocol == LEGACY_WS { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } })).await;
    }

    /// The next JSON message, skipping keep-alives; None if the socket closed or 5 s passed.
    pub async fn recv(&mut self) -> Option<Value> {
        self.recv_within(Duration::from_secs(5)).await
    }

    /// Puts a message back: `recv` returns it before anything new.
    pub fn unread(&mut self, message: Value) {
        self.pending.push_back(message);
    }

    pub async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        if let Some(message) = self.pending.pop_front() {
            return Some(message);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()??.ok()?;
            match frame {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).expect("server sends JSON");
                    if matches!(value["type"].as_str(), Some("ka" | "ping")) {
                        if value["type"] == "ping" {
                            self.send(json!({ "type": "pong" })).await;
                        }
                        continue;
                    }
                    return Some(value);
                }
                Message::Close(frame) => {
                    self.close_reason = frame.as_ref().map(|f| f.reason.to_string());
                    self.close_code = Some(frame.map_or(u16::from(CloseCode::Status), |f| u16::from(f.code)));
                    return None;
                }
                _ => continue,
            }
        }
    }

    /// The payload of the next data message for `id` (`next` or legacy `data`).
    pub async fn next_data(&mut self, id: &str) -> Value {
        let message = self.recv().await.expect("a message before the timeout");
        assert_eq!(message["id"], id, "{message}");
        let expected = if self.protocol == LEGACY_WS { "data" } else { "next" };
        assert_eq!(message["type"], expected, "{message}");
        message["payload"].clone()
    }

    /// Waits for the server to close the socket and returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        if self.close_code.is_some() {
            return self.close_code;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await.ok()?? {
                Ok(Message::Close(frame)) => {
                    return frame.map(|f| u16::from(f.code)).or(Some(u16::from(CloseCode::Status)));
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

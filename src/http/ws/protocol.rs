//! Client → server half of the wire format: subprotocol negotiation, close codes and
//! strict parsing of client messages. Parsing is deliberately unforgiving because the
//! `graphql-transport-ws` spec requires an immediate 4400 close for anything it does not
//! define; reasons never echo client input beyond a short, truncated fragment.

use async_graphql::{Request, Variables};
use axum::http::{HeaderMap, header::SEC_WEBSOCKET_PROTOCOL};
use serde_json::{Map, Value};

/// The two GraphQL-over-WebSocket subprotocols we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subprotocol {
    /// `graphql-transport-ws` (enisdenjo/graphql-ws).
    TransportWs,
    /// `graphql-ws` (legacy apollographql/subscriptions-transport-ws).
    Legacy,
}

impl Subprotocol {
    /// Picks the first supported protocol in the client's order of preference; the header
    /// may be repeated and each value is a comma separated list (RFC 6455 §11.3.4).
    pub(crate) fn select(headers: &HeaderMap) -> Option<Subprotocol> {
        headers
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .find_map(|token| match token.trim() {
                "graphql-transport-ws" => Some(Subprotocol::TransportWs),
                "graphql-ws" => Some(Subprotocol::Legacy),
                _ => None,
            })
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Subprotocol::TransportWs => "graphql-transport-ws",
            Subprotocol::Legacy => "graphql-ws",
        }
    }
}

/// Close codes used by the server (graphql-ws PROTOCOL.md plus RFC 6455 ones).
pub(crate) mod close_code {
    pub(crate) const NORMAL: u16 = 1000;
    pub(crate) const GOING_AWAY: u16 = 1001;
    /// RFC 6455 "Try Again Later": a client too slow to take its events; graphql-ws
    /// clients reconnect after it (and resume from the cursor in the reason).
    pub(crate) const TRY_AGAIN_LATER: u16 = 1013;
    /// RFC 6455 "Message Too Big": the limit is a transport concern, not a GraphQL one.
    pub(crate) const MESSAGE_TOO_BIG: u16 = 1009;
    /// RFC 6455 "Invalid frame payload data": a text frame that is not UTF-8 (§8.1).
    pub(crate) const INVALID_PAYLOAD: u16 = 1007;
    pub(crate) const BAD_REQUEST: u16 = 4400;
    pub(crate) const UNAUTHORIZED: u16 = 4401;
    pub(crate) const FORBIDDEN: u16 = 4403;
    pub(crate) const INIT_TIMEOUT: u16 = 4408;
    pub(crate) const SUBSCRIBER_EXISTS: u16 = 4409;
    pub(crate) const TOO_MANY_INITS: u16 = 4429;
}

/// A validated client message, already mapped onto the protocol-neutral operations.
#[derive(Debug)]
pub(crate) enum ClientMessage {
    /// `connection_init`; payload is `Null` when absent.
    Init { payload: Value },
    /// `ping` (transport-ws only).
    Ping { payload: Option<Value> },
    /// `pong` (transport-ws only).
    Pong,
    /// transport-ws `subscribe` / legacy `start`.
    Subscribe { id: String, request: Box<Request> },
    /// transport-ws `complete` / legacy `stop`.
    Complete { id: String },
    /// legacy `connection_terminate`.
    Terminate,
}

/// Parses one text frame. `Err` carries a short close reason for a 4400 close.
pub(crate) fn parse(protocol: Subprotocol, text: &str) -> Result<ClientMessage, String> {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Err("Invalid message: not JSON".to_owned());
    };
    let Value::Object(mut message) = value else {
        return Err("Invalid message: not a JSON object".to_owned());
    };
    let ty = match message.remove("type") {
        Some(Value::String(ty)) => ty,
        _ => return Err("Invalid message: missing or non-string \"type\"".to_owned()),
    };
    use Subprotocol::{Legacy, TransportWs};
    match (protocol, ty.as_str()) {
        (_, "connection_init") => Ok(ClientMessage::Init {
            payload: optional_object(&mut message, "payload")?.map_or(Value::Null, Value::Object),
        }),
        (TransportWs, "ping") => {
            Ok(ClientMessage::Ping { payload: optional_object(&mut message, "payload")?.map(Value::Object) })
        }
        (TransportWs, "pong") => optional_object(&mut message, "payload").map(|_| ClientMessage::Pong),
        (TransportWs, "subscribe") | (Legacy, "start") => {
            let id = take_id(&mut message, &ty)?;
            let request = parse_request(message.remove("payload"))?;
            Ok(ClientMessage::Subscribe { id, request: Box::new(request) })
        }
        (TransportWs, "complete") | (Legacy, "stop") => Ok(ClientMessage::Complete { id: take_id(&mut message, &ty)? }),
        (Legacy, "connection_terminate") => Ok(ClientMessage::Terminate),
        _ => Err(format!("Unexpected message type \"{}\"", truncate(&ty, 32))),
    }
}

/// Operation ids must be non-empty strings (graphql-ws validates the same way).
fn take_id(message: &mut Map<String, Value>, ty: &str) -> Result<String, String> {
    match message.remove("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id),
        _ => Err(format!("\"{ty}\" message requires a non-empty string \"id\"")),
    }
}

/// A field that may be absent or null, but if present must be an object.
fn optional_object(message: &mut Map<String, Value>, field: &str) -> Result<Option<Map<String, Value>>, String> {
    match message.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(_) => Err(format!("\"{field}\" must be an object")),
    }
}

/// Builds the GraphQL request from `{query, variables?, operationName?, extensions?}`.
fn parse_request(payload: Option<Value>) -> Result<Request, String> {
    let Some(Value::Object(mut payload)) = payload else {
        return Err("\"payload\" must be an object".to_owned());
    };
    let Some(Value::String(query)) = payload.remove("query") else {
        return Err("\"payload.query\" must be a string".to_owned());
    };
    let mut request = Request::new(query);
    if let Some(variables) = optional_object(&mut payload, "variables")? {
        request = request.variables(Variables::from_json(Value::Object(variables)));
    }
    match payload.remove("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => return Err("\"payload.operationName\" must be a string".to_owned()),
    }
    for (key, value) in optional_object(&mut payload, "extensions")?.unwrap_or_default() {
        let value = async_graphql::Value::from_json(value)
            .map_err(|_| "\"payload.extensions\" is not a valid value".to_owned())?;
        request.extensions.0.insert(key, value);
    }
    Ok(request)
}

/// Truncates to at most `max` bytes on a char boundary (close reasons are ≤ 123 bytes).
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

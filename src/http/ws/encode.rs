//! Server → client half of the wire format. Every function returns the text frame to
//! send; serialisation never panics (no `json!` with `Serialize` values, which unwraps).

use async_graphql::{Response, ServerError};
use serde::Serialize;
use serde_json::Value;

use super::config::Reply;
use super::protocol::Subprotocol;

#[derive(Serialize)]
struct Outgoing<'a, P: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type")]
    ty: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<P>,
}

fn encode<P: Serialize>(id: Option<&str>, ty: &'static str, payload: Option<P>) -> String {
    match serde_json::to_string(&Outgoing { id, ty, payload }) {
        Ok(text) => text,
        Err(err) => {
            // Only reachable if a resolver produced something serde cannot represent;
            // the client still gets a well-formed message for the same operation.
            tracing::warn!(error = %err, ty, "failed to serialise websocket message");
            let fallback =
                serde_json::json!({ "errors": [{ "message": "Internal error: response could not be serialised" }] });
            let payload = match ty {
                "error" => Value::Array(vec![fallback["errors"][0].clone()]),
                _ => fallback,
            };
            serde_json::to_string(&Outgoing { id, ty, payload: Some(payload) })
                .unwrap_or_else(|_| format!("{{\"type\":\"{ty}\"}}"))
        }
    }
}

pub(crate) fn connection_ack() -> String {
    encode::<()>(None, "connection_ack", None)
}

/// Legacy `graphql-ws` keep-alive.
pub(crate) fn keep_alive() -> String {
    encode::<()>(None, "ka", None)
}

/// transport-ws server-initiated ping (the client must answer with `pong`).
pub(crate) fn ping() -> String {
    encode::<()>(None, "ping", None)
}

/// transport-ws `pong`, echoing the ping's payload when there was one.
pub(crate) fn pong(payload: Option<Value>) -> String {
    encode(None, "pong", payload)
}

/// Legacy rejection sent right before the 4403 close.
pub(crate) fn connection_error(reason: &str) -> String {
    encode(None, "connection_error", Some(serde_json::json!({ "message": reason })))
}

/// One execution result: `next` (transport-ws) or `data` (legacy). An already
/// serialised result is spliced in as it is, so it is not parsed or serialised again.
pub(crate) fn next(protocol: Subprotocol, id: &str, reply: &Reply) -> String {
    match reply {
        Reply::Response(response) => encode(Some(id), next_type(protocol), Some(response)),
        Reply::Json(json) => shared_next(protocol, &serde_json::Value::from(id).to_string(), json),
    }
}

/// The type of a result message.
fn next_type(protocol: Subprotocol) -> &'static str {
    match protocol {
        Subprotocol::TransportWs => "next",
        Subprotocol::Legacy => "data",
    }
}

/// `next` (or legacy `data`) around a shared, already serialised result; `id_json` is
/// the operation id as a JSON string.
pub(crate) fn shared_next(protocol: Subprotocol, id_json: &str, payload: &str) -> String {
    let ty = next_type(protocol);
    let mut text = String::with_capacity(payload.len() + id_json.len() + 32);
    for part in [r#"{"id":"#, id_json, r#","type":""#, ty, r#"","payload":"#, payload, "}"] {
        text.push_str(part);
    }
    text
}

/// A request error: transport-ws sends the whole `GraphQLError[]`, legacy sends the
/// first error object (that is what subscriptions-transport-ws clients expect).
pub(crate) fn error(protocol: Subprotocol, id: &str, errors: &[ServerError]) -> String {
    match protocol {
        Subprotocol::TransportWs => encode(Some(id), "error", Some(errors)),
        Subprotocol::Legacy => encode(Some(id), "error", errors.first()),
    }
}

pub(crate) fn complete(id: &str) -> String {
    encode::<()>(Some(id), "complete", None)
}

/// A "request error" happened before execution (parse/validation/unknown operation):
/// no data at all and no error points into the result via a `path`. A refusal by a
/// practice's quota (`QUOTA_EXCEEDED`, raised as a mutation starts, before it writes
/// anything) is one too: the operation did not run.
pub(crate) fn is_request_error(response: &Response) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|error| error.path.is_empty() || refused_by_quota(error))
}

fn refused_by_quota(error: &ServerError) -> bool {
    let code = error.extensions.as_ref().and_then(|extensions| extensions.get("code"));
    code == Some(&async_graphql::Value::from("QUOTA_EXCEEDED"))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn messages_have_expected_shape() {
        assert_eq!(connection_ack(), r#"{"type":"connection_ack"}"#);
        assert_eq!(complete("7"), r#"{"id":"7","type":"complete"}"#);
        assert_eq!(pong(None), r#"{"type":"pong"}"#);
        let errors = vec![ServerError::new("bad", None)];
        assert_eq!(
            error(Subprotocol::TransportWs, "1", &errors),
            r#"{"id":"1","type":"error","payload":[{"message":"bad"}]}"#
        );
        assert_eq!(
            error(Subprotocol::Legacy, "1", &errors),
            r#"{"id":"1","type":"error","payload":{"message":"bad"}}"#
        );
        assert!(is_request_error(&Response::from_errors(errors)));
        let json: std::sync::Arc<str> = r#"{"data":{"n":1}}"#.into();
        let shared = next(Subprotocol::TransportWs, "a\"b", &Reply::Json(json));
        assert_eq!(shared, r#"{"id":"a\"b","type":"next","payload":{"data":{"n":1}}}"#);
        let value = async_graphql::Value::from_json(serde_json::json!({ "n": 1 })).expect("value");
        let serialised = next(Subprotocol::Legacy, "1", &Response::new(value).into());
        assert_eq!(serialised, r#"{"id":"1","type":"data","payload":{"data":{"n":1}}}"#);
    }
}

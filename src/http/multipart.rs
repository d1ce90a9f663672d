//! Subscriptions over plain HTTP, Apollo's multipart protocol (what Apollo Client's
//! `HttpLink` and urql's fetch exchange speak): a POST or GET with
//! `Accept: multipart/mixed;subscriptionSpec="1.0"` gets `multipart/mixed` parts, each a
//! JSON object: `{"payload": <result>}` per event, `{}` as a heartbeat (to clients that
//! name the `subscriptionSpec`), and on a transport
//! error `{"payload": null, "errors": […]}` before the stream closes. Served through the
//! practice's hub and held like SSE streams (`http::streamed`): the same registry,
//! revocation, drain and limits; resumable with the subscription's `after` argument.

use async_graphql::Value;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use serde_json::json;
use std::convert::Infallible;
use std::time::Duration;

use super::streamed::{End, Source, Step, hold, through_hub};
use crate::auth::{Auth, Principal};
use crate::events::StreamTransport;
use crate::state::AppState;

/// Apollo's router sends a heartbeat this often; so do we, from the first moment.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
const CONTENT_TYPE: &str = "multipart/mixed;boundary=\"graphql\";subscriptionSpec=\"1.0\"";
/// Every part is followed by the next delimiter at once: clients read a part only when
/// they see the delimiter after it.
const DELIMITER: &str = "\r\n--graphql";

/// How a client asked for multipart subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Asked {
    /// Apollo's `subscriptionSpec` clients get `{}` heartbeats; other multipart readers
    /// (urql's fetch exchange) take an empty part for a result, so they get none.
    heartbeats: bool,
}

/// Whether (and how) the client asked for multipart subscriptions.
pub(crate) fn asked(headers: &HeaderMap) -> Option<Asked> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())?.to_ascii_lowercase();
    accept.contains("multipart/mixed").then(|| Asked { heartbeats: accept.contains("subscriptionspec") })
}

/// What one part says.
enum Part {
    Heartbeat,
    /// A result, serialised (`{"data": …}`).
    Payload(String),
    /// A transport error: the last part.
    Fatal(&'static str, String),
}

impl Part {
    fn bytes(&self) -> Bytes {
        let json = match self {
            Part::Heartbeat => "{}".to_string(),
            Part::Payload(result) => format!("{{\"payload\":{result}}}"),
            Part::Fatal(code, message) => {
                json!({ "payload": null, "errors": [{ "message": message, "extensions": { "code": code } }] })
                    .to_string()
            }
        };
        Bytes::from(format!("\r\ncontent-type: application/json; charset=utf-8\r\n\r\n{json}{DELIMITER}"))
    }
}

/// Streams a subscription's results as multipart parts.
pub(crate) async fn subscribe(
    state: &AppState,
    asked: Asked,
    request: async_graphql::Request,
    principal: Principal,
) -> Response {
    let slots = match crate::http::streamed::quota_slots(state, &principal, true).await {
        Ok(slots) => slots,
        Err(refused) => return refused,
    };
    let results: BoxStream<'static, String> =
        match through_hub(state, request, None, principal.clone(), StreamTransport::Multipart).await {
            Source::Shared(results) => results.map(|(payload, _resume)| payload.to_string()).boxed(),
            Source::Own(results) => results.map(|response| serialised(&response)).boxed(),
            Source::Unshared(request) => {
                let request = request
                    .data(Auth(Some(principal.clone())))
                    .data(StreamTransport::Multipart)
                    .data(crate::vocab::Transport::Multipart);
                state.schema.execute_stream(request).map(|response| serialised(&response)).boxed()
            }
        };
    // Heartbeats go on only while results do: the end of the results (None) ends both.
    let results = results.map(|result| Some(Part::Payload(result))).chain(stream::once(async { None }));
    let heartbeats = match asked.heartbeats {
        true => heartbeats(HEARTBEAT_EVERY).map(|_| Some(Part::Heartbeat)).boxed(),
        false => stream::pending().boxed(),
    };
    let parts = stream::select(results, heartbeats)
        .take_while(|part| std::future::ready(part.is_some()))
        .filter_map(std::future::ready);
    let body = hold(state, StreamTransport::Multipart, principal, slots, parts.boxed()).flat_map(|step| {
        let (part, last) = match step {
            Step::Item(part) => (Some(part), false),
            Step::End(End::Completed) => (None, true),
            Step::End(End::Revoked(reason)) => {
                let message = format!("the API key is no longer valid ({reason})");
                (Some(Part::Fatal("UNAUTHENTICATED", message)), true)
            }
            Step::End(End::Draining) => {
                let message = "the server is shutting down; subscribe again (with `after`: the last cursor you saw)";
                (Some(Part::Fatal("SHUTTING_DOWN", message.to_string())), true)
            }
        };
        let chunks = part.map(|p| p.bytes()).into_iter().chain(last.then(|| Bytes::from_static(b"--\r\n")));
        stream::iter(chunks.map(Ok::<_, Infallible>).collect::<Vec<_>>())
    });
    let body = stream::once(async { Ok::<_, Infallible>(Bytes::from_static(DELIMITER.as_bytes())) }).chain(body);
    let mut response = (StatusCode::OK, Body::from_stream(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A heartbeat stream whose first tick is at once (a client sees the stream is open).
fn heartbeats(every: Duration) -> BoxStream<'static, ()> {
    stream::unfold(tokio::time::interval(every), |mut interval| async move {
        interval.tick().await;
        Some(((), interval))
    })
    .boxed()
}

fn serialised(response: &async_graphql::Response) -> String {
    serde_json::to_string(response).unwrap_or_else(|_| {
        json!({ "data": Value::Null, "errors": [{ "message": "internal error", "extensions": { "code": "INTERNAL" } }] })
            .to_string()
    })
}

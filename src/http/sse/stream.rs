//! One SSE response: the operation's results as `next` events (with the event's cursor as
//! the SSE `id:`), then `complete`. Streams are held under the connection registry
//! (`http::streamed`): counted, tracked, ended when the server drains or their key is
//! revoked or expires.

use async_graphql::Value;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;
use std::convert::Infallible;
use std::time::Duration;

use futures_util::stream::BoxStream;

use super::request::Refusal;
use super::resume::{self, Plan, take_cursor};
use crate::auth::{Auth, Principal};
use crate::events::StreamTransport;
use crate::http::streamed::{End, QuotaSlots, Source, Step, hold, through_hub};
use crate::state::AppState;

/// Keep-alive comments keep proxies from timing out an idle stream.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(15);

pub(super) fn respond(
    state: &AppState,
    request: async_graphql::Request,
    plan: Plan,
    principal: Principal,
    slots: QuotaSlots,
) -> Response {
    let events = state.schema.execute_stream(request).map(move |response| next(response, &plan));
    open(state, events.boxed(), principal, slots)
}

/// One response already known (a refusal), as `next` and `complete`.
pub(super) fn answer(state: &AppState, response: async_graphql::Response, principal: Principal) -> Response {
    let no_cursor = Plan { root_keys: Vec::new() };
    let event = next(response, &no_cursor);
    open(state, futures_util::stream::once(async move { event }).boxed(), principal, QuotaSlots::none())
}

/// A subscription: served by its practice's hub when it can be (each result with its
/// event's cursor as the SSE `id:`), on its own otherwise.
pub(super) async fn subscribe(
    state: &AppState,
    request: async_graphql::Request,
    after: Option<String>,
    principal: Principal,
    slots: QuotaSlots,
) -> Response {
    match through_hub(state, request, after.clone(), principal.clone(), StreamTransport::Sse).await {
        Source::Shared(results) => {
            let events =
                results.map(|(payload, resume)| Event::default().event("next").id(resume.id()).data(&*payload));
            open(state, events.boxed(), principal, slots)
        }
        Source::Own(results) => {
            let no_cursor = Plan { root_keys: Vec::new() };
            open(state, results.map(move |response| next(response, &no_cursor)).boxed(), principal, slots)
        }
        Source::Unshared(mut request) => match resume::prepare(&mut request, after.as_deref()) {
            Ok(plan) if let Some(reason) = plan.unresumable(after.as_deref()) => {
                let mut error = async_graphql::ServerError::new(reason, None);
                crate::graphql::fill_code(&mut error); // BAD_USER_INPUT
                answer(state, async_graphql::Response::from_errors(vec![error]), principal)
            }
            Ok(plan) => {
                let request = request.data(Auth(Some(principal.clone()))).data(StreamTransport::Sse);
                respond(state, request.data(crate::vocab::Transport::Sse), plan, principal, slots)
            }
            Err(message) => Refusal::bad_request(message).into_response(),
        },
    }
}

/// The SSE response around a stream of `next` events: `complete` when they end; it ends
/// early when the server drains (without `complete`, so the client reconnects — to
/// another replica — with its Last-Event-ID and resumes) or the key stops being valid.
pub(super) fn open(
    state: &AppState,
    results: BoxStream<'static, Event>,
    principal: Principal,
    slots: QuotaSlots,
) -> Response {
    let events = hold(state, StreamTransport::Sse, principal, slots, results).flat_map(|step| {
        let events = match step {
            Step::Item(event) => vec![event],
            Step::End(End::Completed) => vec![complete()],
            Step::End(End::Revoked(reason)) => {
                let closed = json!({ "errors": [{
                    "message": format!("the API key is no longer valid ({reason})"),
                    "extensions": { "code": "UNAUTHENTICATED" },
                }] });
                vec![Event::default().event("next").data(closed.to_string()), complete()]
            }
            Step::End(End::Draining) => Vec::new(),
        };
        futures_util::stream::iter(events.into_iter().map(Ok::<_, Infallible>))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEPALIVE_EVERY).text("keep-alive")).into_response()
}

/// A `next` event; when the result carries an event, its `id:` is the event's cursor.
fn next(mut response: async_graphql::Response, plan: &Plan) -> Event {
    let cursor = take_cursor(&mut response.data, &plan.root_keys);
    let data = serde_json::to_string(&response).unwrap_or_else(|_| {
        json!({ "data": Value::Null, "errors": [{ "message": "internal error", "extensions": { "code": "INTERNAL" } }] })
            .to_string()
    });
    let event = Event::default().event("next");
    let event = match cursor {
        Some(cursor) if !cursor.contains(['\n', '\r', '\0']) => event.id(cursor),
        _ => event,
    };
    event.data(data)
}

/// `complete`, with an empty `data:` so that EventSource listeners fire too.
fn complete() -> Event {
    Event::default().event("complete").data("")
}

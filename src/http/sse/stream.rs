//! One SSE response: the operation's results as `next` events (with the event's cursor as
//! the SSE `id:`), then `complete`. Open streams are counted and tracked, end when the
//! server drains, and end when their key is revoked or expires — registered with the same
//! connection registry as websockets (at once on the revoking replica, within a second
//! elsewhere).

use async_graphql::Value;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;
use std::convert::Infallible;
use std::time::Duration;

use futures_util::stream::BoxStream;
use std::sync::Arc;

use super::request::Refusal;
use super::resume::{self, Plan, take_cursor};
use crate::auth::{Auth, Principal};
use crate::events::{GaugeGuard, Transport, TransportLabel};
use crate::hub::{Frame, Outbound, Registration, Subscribe, Subscribed, Tag};
use crate::state::AppState;

/// Keep-alive comments keep proxies from timing out an idle stream.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(15);
/// Queued frames taken at once.
const MAX_BATCH: usize = 64;

pub(super) fn respond(state: &AppState, request: async_graphql::Request, plan: Plan, principal: Principal) -> Response {
    let events = state.schema.execute_stream(request).map(move |response| next(response, &plan));
    open(state, events.boxed(), principal)
}

/// A subscription: served by its practice's hub when it can be (results queued on this
/// stream's own outbound queue, each with its event's cursor as the SSE `id:`), on its
/// own otherwise.
pub(super) async fn subscribe(
    state: &AppState,
    request: async_graphql::Request,
    after: Option<String>,
    principal: Principal,
) -> Response {
    let outbound = Outbound::new(state.config.outbound_max_bytes);
    let tag = Tag::new("sse");
    let subscribe = Subscribe {
        request,
        principal: principal.clone(),
        session: None,
        after: after.clone(),
        transport: Transport::Sse,
    };
    match state.hubs.subscribe(subscribe, &outbound, &tag).await {
        Subscribed::Registered(registration) => open(state, queued(outbound, registration), principal),
        Subscribed::Running(results) => {
            let no_cursor = Plan { root_keys: Vec::new() };
            open(state, results.map(move |response| next(response, &no_cursor)).boxed(), principal)
        }
        Subscribed::Unshared(mut request) => match resume::prepare(&mut request, after.as_deref()) {
            Ok(plan) => {
                respond(state, request.data(Auth(Some(principal.clone()))).data(Transport::Sse), plan, principal)
            }
            Err(message) => Refusal::bad_request(message).into_response(),
        },
    }
}

/// The frames a hub queues for this stream, as SSE events; ends when the hub ends the
/// subscription.
fn queued(outbound: Arc<Outbound>, registration: Registration) -> BoxStream<'static, Event> {
    async_stream::stream! {
        let _registration = registration;
        loop {
            let mut frames = Vec::new();
            outbound.take(MAX_BATCH, &mut frames).await;
            for frame in frames {
                match frame {
                    Frame::Next { payload, event, .. } => yield Event::default().event("next").id(event.cursor()).data(&*payload),
                    Frame::Complete { .. } => return,
                }
            }
        }
    }
    .boxed()
}

/// The SSE response around a stream of `next` events: `complete` when they end; it ends
/// early when the server drains (without `complete`, so the client resumes elsewhere) or
/// the key stops being valid.
fn open(state: &AppState, mut results: BoxStream<'static, Event>, principal: Principal) -> Response {
    let connection = state.http_metrics.connections.get_or_create(&TransportLabel::of(Transport::Sse)).clone();
    let credentials = state.services.sessions.open(principal);
    let mut revoked = credentials.closed();
    let held = (GaugeGuard::hold(connection), state.tracker.token(), credentials);
    let shutdown = state.shutdown.clone();
    let events = async_stream::stream! {
        let _held = held;
        loop {
            tokio::select! {
                biased;
                // Draining: end without `complete`, so the client reconnects (to another
                // replica) with its Last-Event-ID and resumes.
                _ = shutdown.cancelled() => break,
                (_, reason) = &mut revoked => {
                    let closed = json!({ "errors": [{
                        "message": format!("the API key is no longer valid ({reason})"),
                        "extensions": { "code": "UNAUTHENTICATED" },
                    }] });
                    yield Ok::<_, Infallible>(Event::default().event("next").data(closed.to_string()));
                    yield Ok(complete());
                    break;
                }
                result = results.next() => match result {
                    Some(event) => yield Ok(event),
                    None => {
                        yield Ok(complete());
                        break;
                    }
                },
            }
        }
    };
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

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

use super::resume::{Plan, take_cursor};
use crate::auth::Principal;
use crate::events::{GaugeGuard, Transport, TransportLabel};
use crate::state::AppState;

/// Keep-alive comments keep proxies from timing out an idle stream.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(15);

pub(super) fn respond(state: &AppState, request: async_graphql::Request, plan: Plan, principal: Principal) -> Response {
    let connection = state.http_metrics.connections.get_or_create(&TransportLabel::of(Transport::Sse)).clone();
    let credentials = state.services.sessions.open(principal);
    let mut revoked = credentials.closed();
    let held = (GaugeGuard::hold(connection), state.tracker.token(), credentials);
    let mut results = state.schema.execute_stream(request);
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
                    Some(response) => yield Ok(next(response, &plan)),
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

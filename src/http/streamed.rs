//! What the two streaming HTTP transports (SSE and Apollo's multipart subscriptions)
//! share: a subscription's results through its practice's hub, and a stream held under
//! the connection registry — counted, tracked, ended when the server drains and when its
//! key is revoked or expires (at once on the revoking replica, within a second elsewhere).

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::sync::Arc;

use crate::auth::Principal;
use crate::events::{GaugeGuard, StoredEvent, StreamTransport, TransportLabel};
use crate::hub::{Frame, Outbound, Registration, Subscribe, Subscribed, Tag};
use crate::state::AppState;

/// Queued frames taken at once.
const TAKE_AT_ONCE: usize = 64;

/// Where a subscription's results come from. Made once per subscription and taken apart at once.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Source {
    /// Served by the hub: each result serialised, with where a client resumes after it.
    Shared(BoxStream<'static, (Arc<str>, Resume)>),
    /// Its own results (a request error, or a stream the hub handed back).
    Own(BoxStream<'static, async_graphql::Response>),
    /// Not for the hub: the request, for the transport to run on its own.
    Unshared(async_graphql::Request),
}

/// Starts a subscription through its practice's hub, `after` replacing its cursor.
pub(crate) async fn through_hub(
    state: &AppState,
    request: async_graphql::Request,
    after: Option<String>,
    principal: Principal,
    transport: StreamTransport,
) -> Source {
    let outbound = Outbound::new(state.config.outbound_max_bytes);
    let tag = Tag::new(transport.as_str());
    let subscribe = Subscribe { request, principal, session: None, after, transport, turn: None };
    match state.hubs.subscribe(subscribe, &outbound, &tag).await {
        Subscribed::Registered(registration) => Source::Shared(queued(outbound, registration, door(transport))),
        Subscribed::Running(results) => Source::Own(results),
        Subscribed::Unshared(request) => Source::Unshared(request),
    }
}

/// Where a client resumes after a result: the event's cursor, or a live query's revision.
pub(crate) enum Resume {
    Event(Arc<StoredEvent>),
    Revision(i64),
}

impl Resume {
    /// As SSE's `id:` carries it.
    pub(crate) fn id(&self) -> String {
        match self {
            Resume::Event(event) => event.cursor(),
            Resume::Revision(revision) => revision.to_string(),
        }
    }
}

/// The door a delivery's span names.
fn door(transport: StreamTransport) -> &'static str {
    match transport {
        StreamTransport::Multipart => "multipart",
        other => other.as_str(),
    }
}

/// The frames a hub queues for one stream; ends when the hub ends the subscription.
fn queued(
    outbound: Arc<Outbound>,
    registration: Registration,
    door: &'static str,
) -> BoxStream<'static, (Arc<str>, Resume)> {
    async_stream::stream! {
        let _registration = registration;
        loop {
            let mut frames = Vec::new();
            outbound.take(TAKE_AT_ONCE, &mut frames).await;
            for frame in frames {
                match frame {
                    Frame::Next { payload, event, .. } => {
                        // Held until the stream is polled again: the result has been written.
                        let _delivery = crate::telemetry::delivery(door, &event.practice_id, event.seq, event.trace.as_ref());
                        yield (payload, Resume::Event(event));
                    }
                    Frame::Live { payload, revision, .. } => yield (payload, Resume::Revision(revision)),
                    Frame::Complete { .. } => return,
                }
            }
        }
    }
    .boxed()
}

/// The slots of a practice's quotas a held stream takes: a connection, and a
/// subscription when it is one. Given back when the stream ends.
pub(crate) struct QuotaSlots(#[allow(dead_code)] Vec<crate::limits::Slot>);

impl QuotaSlots {
    pub(crate) fn none() -> Self {
        Self(Vec::new())
    }
}

/// Takes `principal`'s practice's slots for a stream, or answers 429 `QUOTA_EXCEEDED`.
pub(crate) async fn quota_slots(
    state: &AppState,
    principal: &Principal,
    subscription: bool,
) -> Result<QuotaSlots, axum::response::Response> {
    let Some(practice_id) = principal.practice_id() else { return Ok(QuotaSlots::none()) };
    let limits = &state.services.domain.limits;
    let mut slots = vec![limits.connect(practice_id).await.map_err(|e| too_many(&e))?];
    if subscription {
        slots.push(limits.subscribe(practice_id).await.map_err(|e| too_many(&e))?);
    }
    Ok(QuotaSlots(slots))
}

fn too_many(err: &crate::error::AppError) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    let retry_after = match err {
        crate::error::AppError::QuotaExceeded { retry_after, .. } => (*retry_after).max(1),
        _ => 1,
    };
    let body = serde_json::to_string(&crate::http::subscriptions::refused(err)).unwrap_or_default();
    let mut response =
        (StatusCode::TOO_MANY_REQUESTS, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// How a held stream ended.
pub(crate) enum End {
    /// Its results ended.
    Completed,
    /// Its key was revoked or expired (the reason).
    Revoked(String),
    /// The server is draining: the client should resume elsewhere.
    Draining,
}

/// One step of a held stream: a result, or how it ended (always last).
pub(crate) enum Step<T> {
    Item(T),
    End(End),
}

/// What keeps a held request counted and known: its connection gauge, a task-tracker
/// token, its credentials in the connection registry (so revoking its key ends it), its
/// practice's usage connection and its quota slots. Dropping it lets go of all of them.
pub(crate) struct Held {
    _guards: (GaugeGuard, tokio_util::task::task_tracker::TaskTrackerToken, Option<crate::usage::Held>, QuotaSlots),
    _credentials: Arc<crate::auth::Credentials>,
    /// Resolves, with the reason, when the key is revoked or expires.
    pub(crate) revoked: futures_util::future::BoxFuture<'static, (u16, String)>,
}

/// Holds a request of `principal` open under the connection registry, counted under `transport`.
pub(crate) fn held(state: &AppState, transport: StreamTransport, principal: Principal, slots: QuotaSlots) -> Held {
    let connection = state.http_metrics.connections.get_or_create(&TransportLabel::of(transport)).clone();
    // A held request is a connection of its practice, for usage's peak connections.
    let metered = principal.practice_id().map(|practice| {
        let usage = &state.services.usage;
        usage.connection(usage.key(practice, principal.usage_key().as_deref()))
    });
    let credentials = state.services.domain.sessions.open(principal);
    let revoked = credentials.closed();
    let guards = (GaugeGuard::hold(connection), state.tracker.token(), metered, slots);
    Held { _guards: guards, _credentials: credentials, revoked }
}

/// Holds `results` open under the connection registry as `principal`'s, counted under
/// `transport` and on the app's task tracker, until they end, the key stops being valid
/// or the server drains.
pub(crate) fn hold<T: Send + 'static>(
    state: &AppState,
    transport: StreamTransport,
    principal: Principal,
    slots: QuotaSlots,
    mut results: BoxStream<'static, T>,
) -> BoxStream<'static, Step<T>> {
    let held = held(state, transport, principal, slots);
    let shutdown = state.shutdown.clone();
    async_stream::stream! {
        // Moved whole (a closure would capture only the field it names): every guard
        // lives as long as the stream.
        let mut held = held;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    yield Step::End(End::Draining);
                    break;
                }
                (_, reason) = &mut held.revoked => {
                    yield Step::End(End::Revoked(reason));
                    break;
                }
                result = results.next() => match result {
                    Some(item) => yield Step::Item(item),
                    None => {
                        yield Step::End(End::Completed);
                        break;
                    }
                },
            }
        }
    }
    .boxed()
}

//! `GET /practices/{practiceId}/events?after=&limit=&wait=&types=`: HTTP long polling over
//! the practice's log. Answers `{"events": [...], "next": "<cursor>"}` as soon as events
//! after the cursor exist (each the webhook body's `data`), or with none and the same
//! `next` after `wait` seconds. Authenticated like every door, rate limited, counted as a
//! connection of its practice while it waits, and metered and audited per event delivered.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::params::{self, Params};
use crate::auth::Principal;
use crate::domain::event_poll::{self, Ended, Poll, Polled};
use crate::error::AppError;
use crate::events::{StoredEvent, StreamTransport, TransportLabel};
use crate::http::auth::{authorization, resolve};
use crate::http::streamed::{held, quota_slots};
use crate::state::AppState;
use crate::usage::{OpKind, UsageKey};
use crate::vocab::Transport;

#[tracing::instrument(skip_all, name = "long_poll")]
pub async fn get(
    State(state): State<AppState>,
    Path(practice_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let params = match params::parse(uri.query()) {
        Ok(params) => params,
        Err(message) => return refused(&AppError::BadInput(message)),
    };
    // Every step before and after the wait is boxed, so a waiting request holds only the
    // wait's own state (measured: a poll waits in about what an SSE stream holds).
    let auth = match Box::pin(resolve(&state.services.domain, authorization(&headers).as_deref())).await {
        Ok(auth) => auth,
        Err(denied) => return denied.into_response(),
    };
    let Some(principal) = auth.0 else { return refused(&AppError::Unauthenticated) };
    if Box::pin(state.services.domain.limits.allow(&principal.limit_key())).await.is_err() {
        let mut response =
            error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", "too many requests for this API key; slow down");
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    let slots = match Box::pin(quota_slots(&state, &principal, false)).await {
        Ok(slots) => slots,
        Err(over_quota) => return over_quota,
    };
    let mut held = held(&state, StreamTransport::LongPolling, principal.clone(), slots);
    let mut revoked = None;
    let stop = async {
        tokio::select! {
            () = state.shutdown.cancelled() => {}
            (_, reason) = &mut held.revoked => revoked = Some(reason),
        }
    };
    let polled = event_poll::poll(&state.services.domain, &principal, poll(&practice_id, &params), stop).await;
    if let Some(reason) = revoked {
        return refused_with(&AppError::Unauthenticated, &format!("the API key is no longer valid ({reason})"));
    }
    let mut response = match polled {
        Ok(polled) => Box::pin(answer(&state, &principal, &practice_id, &params, polled)).await,
        Err(err) => return refused(&err),
    };
    // The URL is a WebSub topic: name the hub and the topic itself.
    let base = base_url(&state, &headers);
    let types = params.types.as_ref().map(|t| t.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(","));
    let topic = match types {
        Some(types) => format!("{base}/practices/{practice_id}/events?types={types}"),
        None => format!("{base}/practices/{practice_id}/events"),
    };
    if let Ok(link) = HeaderValue::from_str(&format!("<{base}/websub>; rel=\"hub\", <{topic}>; rel=\"self\"")) {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

/// The public base URL: `WEBSUB_PUBLIC_URL`, or `http://` and the request's `Host`.
pub(crate) fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(base) = &state.config.webhooks.websub_public_url {
        return base.trim_end_matches('/').to_string();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

/// `429 RATE_LIMITED`, as every HTTP door answers it.
pub(crate) fn rate_limited() -> Response {
    let mut response =
        error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", "too many requests for this API key; slow down");
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn poll<'a>(practice_id: &'a str, params: &'a Params) -> Poll<'a> {
    Poll {
        practice_id,
        after: params.after.as_deref(),
        types: params.types.clone(),
        limit: params.limit,
        wait: params.wait,
        recent: params.recent,
    }
}

/// The answer to a poll: its events, once the practice's delivery quota allows them (a
/// refused answer leaves the client's cursor where it was), metered and audited.
async fn answer(state: &AppState, who: &Principal, practice_id: &str, params: &Params, polled: Polled) -> Response {
    let Polled { events, next, ended } = polled;
    let limits = &state.services.domain.limits;
    if !events.is_empty()
        && let Err(err) = limits.reserve_deliveries(practice_id, events.len() as i64).await
    {
        return refused(&err);
    }
    let mut data = Vec::with_capacity(events.len());
    for event in &events {
        match crate::webhooks::event_data(event) {
            Ok(object) => data.push(Value::Object(object)),
            Err(err) => {
                limits.refund_deliveries(practice_id, events.len() as i64).await;
                return refused(&AppError::Internal(err.into()));
            }
        }
    }
    metered(state, who, practice_id, params, &events);
    tracing::debug!(events = events.len(), ?ended, "long poll answered");
    let body = json!({ "events": data, "next": next });
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if ended == Ended::Stopped {
        // The server drains: the next poll goes to another replica.
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A poll is a read operation of its practice; each event it returns is a delivery
/// through LONG_POLLING (usage per type, the audit trail's DELIVER count per patient).
fn metered(state: &AppState, who: &Principal, practice_id: &str, params: &Params, events: &[StoredEvent]) {
    let services = &state.services;
    let key = UsageKey::new(practice_id, who.usage_key().as_deref());
    services.usage.operation(&key, OpKind::Query);
    if events.is_empty() {
        return;
    }
    let label = TransportLabel::of(StreamTransport::LongPolling);
    let delivered = services.domain.counters.delivered.get_or_create(&label).clone();
    let actor = crate::audit::Actor::of(who, Transport::LongPolling, None);
    let types = params.types.as_ref().map(|t| t.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(","));
    let filter = format!("GET /practices/{practice_id}/events types={}", types.as_deref().unwrap_or("*"));
    let watch = services.audit.watch(practice_id, actor, Some(filter), true);
    for event in events {
        services.usage.delivered(&key, Transport::LongPolling, event.event_type);
        watch.delivered(event.payload.patient_id());
        delivered.inc();
    }
}

/// An error as every HTTP door answers it: a status and a GraphQL-style error body.
pub(crate) fn refused(err: &AppError) -> Response {
    refused_with(err, &err.to_string())
}

fn refused_with(err: &AppError, message: &str) -> Response {
    let status = match err {
        AppError::BadInput(_) => StatusCode::BAD_REQUEST,
        AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::CursorExpired(_) => StatusCode::GONE,
        AppError::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Internal(inner) => {
            tracing::error!(error = %inner, "long poll failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let message = match err {
        AppError::Unauthenticated if message == err.to_string() => {
            "a valid API key or access token is required: Authorization: Bearer <key>"
        }
        _ => message,
    };
    let mut response = error(status, err.code(), message);
    match err {
        AppError::Unauthenticated => {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        AppError::QuotaExceeded { retry_after, .. } => {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from((*retry_after).max(1)));
        }
        _ => {}
    }
    response
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

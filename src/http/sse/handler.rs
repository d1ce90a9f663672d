//! The two ways in: POST with a JSON body and GET with query parameters. Everything that
//! can be refused is refused with an HTTP status before the stream opens: a client that
//! does not accept event streams (406), no or a bad key (401), a malformed request (400,
//! 413, 415), a mutation by GET (405). Validation and execution errors travel in the stream.

use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::request::{self, Refusal};
use super::{resume, stream};
use crate::events::StreamTransport;
use crate::http::auth::{authorization, resolve};
use crate::state::AppState;

#[tracing::instrument(skip_all, name = "graphql_sse_post")]
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    open(&state, &headers, false, || request::from_body(&headers, &body))
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

#[tracing::instrument(skip_all, name = "graphql_sse_get")]
pub async fn get(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    open(&state, &headers, true, || request::from_uri(&uri)).await.unwrap_or_else(IntoResponse::into_response)
}

async fn open(
    state: &AppState,
    headers: &HeaderMap,
    by_get: bool,
    read: impl FnOnce() -> Result<async_graphql::Request, Refusal>,
) -> Result<Response, Refusal> {
    request::check_accept(headers)?;
    let presented = authorization(headers).unwrap_or_default();
    let auth = match resolve(&state.services.domain, Some(&presented)).await {
        Ok(auth) => auth,
        Err(denied) => return Ok(denied.into_response()),
    };
    let Some(principal) = auth.0.clone() else {
        return Err(Refusal {
            status: StatusCode::UNAUTHORIZED,
            code: "UNAUTHENTICATED",
            message: "a valid API key is required: Authorization: Bearer <key>".into(),
        });
    };
    let mut request = read()?;
    // A persisted query's refusal travels in the stream, like a validation error.
    if let Err(refused) = state.persisted.apply(&mut request, true).await {
        return Ok(stream::answer(state, refused.response(), principal));
    }
    if let Err(refused) = crate::graphql::bounds::admit(&mut request, &state.bounds) {
        return Ok(stream::answer(state, *refused, principal));
    }
    let last_event_id =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let kind = resume::kind(&mut request).map_err(Refusal::bad_request)?;
    if by_get && kind == Some(OperationType::Mutation) {
        return Err(Refusal {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "BAD_USER_INPUT",
            message: "mutations must be sent with POST".into(),
        });
    }
    let streams = kind == Some(OperationType::Subscription) || crate::graphql::asks(&mut request);
    let slots = match crate::http::streamed::quota_slots(state, &principal, streams).await {
        Ok(slots) => slots,
        Err(refused) => return Ok(refused),
    };
    if streams {
        let after = last_event_id.map(str::to_string);
        return Ok(stream::subscribe(state, request, after, principal, slots).await);
    }
    let plan = resume::prepare(&mut request, last_event_id).map_err(Refusal::bad_request)?;
    Ok(stream::respond(
        state,
        request.data(auth).data(StreamTransport::Sse).data(crate::vocab::Transport::Sse),
        plan,
        principal,
        slots,
    ))
}

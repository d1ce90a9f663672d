//! The two ways in: POST (a JSON object, or an array: a batch) and GET (websocket
//! upgrades, GraphiQL for browsers, and queries by parameters).

use async_graphql::BatchRequest;
use async_graphql::parser::types::OperationType as GqlOperation;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::answer::{coded_error, one, request_error};
use super::batch;
use super::operation::{Stopped, admit, kind, run};
use crate::auth::Auth;
use crate::http::auth::{authorization, resolve};
use crate::http::{assets, multipart, params};
use crate::state::AppState;

#[tracing::instrument(skip_all, name = "graphql_post")]
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    // Only JSON: a cross-site form cannot send it without a preflight (no CSRF by forms).
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.trim_start().to_ascii_lowercase().starts_with("application/json") {
        return request_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the request as Content-Type: application/json");
    }
    let Ok(batch) = serde_json::from_slice::<BatchRequest>(&body) else {
        return request_error(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object with a string `query` and optional `variables`, `operationName` and \
             `extensions`, or an array of such objects (a batch)",
        );
    };
    let auth = match resolve(&state.services.domain, authorization(&headers).as_deref()).await {
        Ok(auth) => auth,
        Err(denied) => return denied.into_response(),
    };
    match batch {
        BatchRequest::Single(request) => single(&state, &headers, auth, request, false).await,
        BatchRequest::Batch(requests) => batch::answer(&state, &headers, &auth, requests).await,
    }
}

/// GET serves three things: websocket upgrades, GraphiQL for browsers, and queries.
#[tracing::instrument(skip_all, name = "graphql_get")]
pub async fn get(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    if parts.headers.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket")) {
        return match axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => crate::http::subscriptions::upgrade(&state, upgrade, &parts.headers),
            Err(rejection) => rejection.into_response(),
        };
    }
    if !params::has_operation(parts.uri.query().unwrap_or("")) {
        let accepts_html =
            parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
        if accepts_html {
            return assets::graphiql(&parts.headers);
        }
        return request_error(StatusCode::BAD_REQUEST, "missing `query` parameter");
    }
    let request = match params::from_uri(&parts.uri) {
        Ok(request) => request,
        Err(message) => return request_error(StatusCode::BAD_REQUEST, message),
    };
    let auth = match resolve(&state.services.domain, authorization(&parts.headers).as_deref()).await {
        Ok(auth) => auth,
        Err(denied) => return denied.into_response(),
    };
    single(&state, &parts.headers, auth, request, true).await
}

/// One operation: admitted, then run — or, for a subscription asked for as
/// `multipart/mixed`, streamed.
async fn single(
    state: &AppState,
    headers: &HeaderMap,
    auth: Auth,
    mut request: async_graphql::Request,
    by_get: bool,
) -> Response {
    if request.query.is_empty() && request.extensions.get("persistedQuery").is_none() {
        return request_error(StatusCode::BAD_REQUEST, "the request has no `query`");
    }
    match admit(state, &auth, &mut request, by_get).await {
        Ok(()) => {}
        Err(Stopped::RateLimited) => {
            // The same refusal a socket gets, as a GraphQL error body.
            let body = serde_json::to_string(&crate::http::subscriptions::rate_limited()).unwrap_or_default();
            let mut response =
                (StatusCode::TOO_MANY_REQUESTS, [(header::CONTENT_TYPE, "application/json")], body).into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
        Err(Stopped::MutationByGet) => {
            let mut response = request_error(StatusCode::METHOD_NOT_ALLOWED, "mutations must be sent with POST");
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        Err(Stopped::Persisted(refused)) => return one(headers, refused.response()),
        Err(Stopped::Unbounded(response)) => return one(headers, *response),
    }
    if (kind(&mut request) == Some(GqlOperation::Subscription) || crate::graphql::asks(&mut request))
        && let Some(asked) = multipart::asked(headers)
    {
        let Some(principal) = auth.0 else {
            let message = "a valid API key is required: Authorization: Bearer <key>";
            let mut response = coded_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message);
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        };
        return multipart::subscribe(state, asked, request, principal).await;
    }
    one(headers, run(state, &auth, request).await)
}

//! GraphQL over HTTP (POST for everything, GET for queries), per the GraphQL-over-HTTP
//! spec: `application/graphql-response+json` gets 4xx for request errors, plain
//! `application/json` always 200 for a well-formed request.

use async_graphql::http::parse_query_string;
use async_graphql::parser::{parse_query, types::OperationType as GqlOperation};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::assets;
use super::auth::{authorization, resolve};
use crate::metrics::{OperationLabel, OperationType};
use crate::state::AppState;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// A request-level error (the request never executed) as a GraphQL response body.
fn request_error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": "BAD_USER_INPUT" } }] });
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response()
}

fn wants_graphql_response(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains(GRAPHQL_RESPONSE))
}

/// Executes and encodes the answer for the media type the client asked for.
async fn execute(state: &AppState, headers: &HeaderMap, request: async_graphql::Request) -> Response {
    let started = std::time::Instant::now();
    let operation = operation_type(&request);
    let auth = resolve(&state.services, authorization(headers).as_deref()).await;
    if let Some(principal) = &auth.0
        && !state.services.limiter.allow(principal.limit_key())
    {
        // The same refusal a socket gets, as a GraphQL error body.
        let body = serde_json::to_string(&super::subscriptions::rate_limited()).unwrap_or_default();
        let mut response =
            (StatusCode::TOO_MANY_REQUESTS, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    let response = state.schema.execute(request.data(auth)).await;
    state
        .http_metrics
        .request_duration
        .get_or_create(&OperationLabel { operation })
        .observe(started.elapsed().as_secs_f64());
    let request_failed = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let mut body = match serde_json::to_value(&response) {
        Ok(body) => body,
        Err(_) => return request_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    };
    let (status, media_type) = if wants_graphql_response(headers) {
        if request_failed {
            // A request that never executed has no `data` at all.
            if let Some(object) = body.as_object_mut() {
                object.remove("data");
            }
            (StatusCode::BAD_REQUEST, GRAPHQL_RESPONSE)
        } else {
            (StatusCode::OK, GRAPHQL_RESPONSE)
        }
    } else {
        (StatusCode::OK, "application/json")
    };
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(media_type))], body.to_string()).into_response()
}

#[tracing::instrument(skip_all, name = "graphql_post")]
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.trim_start().to_ascii_lowercase().starts_with("application/json") {
        return request_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the request as Content-Type: application/json");
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                "the body must be a JSON object with a string `query` and optional `variables` and `operationName`",
            );
        }
    };
    execute(&state, &headers, request).await
}

/// GET serves three things: websocket upgrades, GraphiQL for browsers, and queries.
#[tracing::instrument(skip_all, name = "graphql_get")]
pub async fn get(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    if parts.headers.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket")) {
        return match axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => super::subscriptions::upgrade(&state, upgrade, &parts.headers),
            Err(rejection) => rejection.into_response(),
        };
    }
    let query_string = parts.uri.query().unwrap_or("");
    if !query_string.split('&').any(|pair| pair.starts_with("query=")) {
        let accepts_html =
            parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
        if accepts_html {
            return assets::graphiql(&parts.headers);
        }
        return request_error(StatusCode::BAD_REQUEST, "missing `query` parameter");
    }
    let request = match parse_query_string(query_string) {
        Ok(request) => request,
        Err(_) => return request_error(StatusCode::BAD_REQUEST, "malformed GraphQL query string parameters"),
    };
    if operation_type(&request) == OperationType::mutation {
        let mut response = request_error(StatusCode::METHOD_NOT_ALLOWED, "mutations must be sent with POST");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    debug_assert_eq!(parts.method, Method::GET);
    execute(&state, &parts.headers, request).await
}

/// The type of the operation the request would run; `invalid` when the document does not
/// parse or names no such operation (the executor then reports why).
fn operation_type(request: &async_graphql::Request) -> OperationType {
    let Ok(document) = parse_query(&request.query) else { return OperationType::invalid };
    let selected = document.operations.iter().find(|(name, _)| match (&request.operation_name, name) {
        (Some(wanted), Some(name)) => wanted == name.as_str(),
        _ => true,
    });
    match selected.map(|(_, op)| op.node.ty) {
        Some(GqlOperation::Query) => OperationType::query,
        Some(GqlOperation::Mutation) => OperationType::mutation,
        Some(GqlOperation::Subscription) => OperationType::subscription,
        None => OperationType::invalid,
    }
}

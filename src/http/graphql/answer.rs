//! Encoding results for the media type the client asked for, and request errors.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// A request-level error (the request never executed) as a GraphQL response body.
pub(super) fn request_error(status: StatusCode, message: &str) -> Response {
    coded_error(status, "BAD_USER_INPUT", message)
}

/// A request-level error with its own code.
pub(super) fn coded_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response()
}

fn wants_graphql_response(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains(GRAPHQL_RESPONSE))
}

fn media_type(headers: &HeaderMap) -> &'static str {
    if wants_graphql_response(headers) { GRAPHQL_RESPONSE } else { "application/json" }
}

/// Whether a response is a request error: nothing executed (no data, errors without paths).
fn request_failed(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// One result; under `application/graphql-response+json` a request error is a `400`
/// without `data`.
pub(super) fn one(headers: &HeaderMap, response: async_graphql::Response) -> Response {
    let failed = request_failed(&response);
    let Ok(mut body) = serde_json::to_value(&response) else {
        return request_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
    };
    let mut status = StatusCode::OK;
    if let Some(retry_after) = quota_refusal(&response) {
        // A practice's quota refused it: 429, like the rate limit, with when to retry.
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, HeaderValue::from_static(media_type(headers)))],
            body.to_string(),
        )
            .into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
        return response;
    }
    if wants_graphql_response(headers) && failed {
        if let Some(object) = body.as_object_mut() {
            object.remove("data");
        }
        status = StatusCode::BAD_REQUEST;
    }
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(media_type(headers)))], body.to_string()).into_response()
}

/// The `retryAfter` of a `QUOTA_EXCEEDED` error in the response, if it has one.
fn quota_refusal(response: &async_graphql::Response) -> Option<u64> {
    response.errors.iter().find_map(|error| {
        let extensions = error.extensions.as_ref()?;
        if extensions.get("code")? != &async_graphql::Value::from("QUOTA_EXCEEDED") {
            return None;
        }
        match extensions.get("retryAfter") {
            Some(async_graphql::Value::Number(n)) => n.as_u64(),
            _ => Some(1),
        }
    })
}

/// A batch's results, in the order of its operations: always `200`, each result saying
/// for itself whether it ran.
pub(super) fn many(headers: &HeaderMap, responses: Vec<async_graphql::Response>) -> Response {
    let Ok(body) = serde_json::to_string(&responses) else {
        return request_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static(media_type(headers)))], body).into_response()
}

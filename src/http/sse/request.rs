//! Reading a graphql-sse request: a GraphQL-over-HTTP request by POST (JSON body) or GET
//! (query parameters), and the answers the protocol gives before any stream is opened.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::http::params;

/// A refusal before streaming: an HTTP status with a GraphQL error body.
pub(super) struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "BAD_USER_INPUT", message: message.into() }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({ "errors": [{ "message": self.message, "extensions": { "code": self.code } }] });
        let mut response =
            (self.status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string())
                .into_response();
        match self.status {
            StatusCode::UNAUTHORIZED => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::METHOD_NOT_ALLOWED => {
                response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            _ => {}
        }
        response
    }
}

/// The stream is the only representation here: a client must accept `text/event-stream`
/// (or anything; a bare `curl` sends `*/*`).
pub(super) fn check_accept(headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(accept) = headers.get(header::ACCEPT) else { return Ok(()) };
    let accept = accept.to_str().unwrap_or("").to_ascii_lowercase();
    if accept.contains("text/event-stream") || accept.contains("*/*") {
        return Ok(());
    }
    Err(Refusal {
        status: StatusCode::NOT_ACCEPTABLE,
        code: "BAD_USER_INPUT",
        message: "this endpoint answers with text/event-stream; send Accept: text/event-stream".into(),
    })
}

/// A POST body: `Content-Type: application/json`, an object with a string `query`.
pub(super) fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<async_graphql::Request, Refusal> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.trim_start().to_ascii_lowercase().starts_with("application/json") {
        return Err(Refusal {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "BAD_USER_INPUT",
            message: "send the request as Content-Type: application/json".into(),
        });
    }
    serde_json::from_slice(body).map_err(|_| {
        Refusal::bad_request(
            "the body must be a JSON object with a string `query` and optional `variables`, `operationName` and `extensions`",
        )
    })
}

/// GET parameters: `query`, and `variables`/`extensions` as JSON text, `operationName`.
pub(super) fn from_uri(uri: &Uri) -> Result<async_graphql::Request, Refusal> {
    if !params::has_operation(uri.query().unwrap_or("")) {
        return Err(Refusal::bad_request("missing `query` parameter"));
    }
    params::from_uri(uri).map_err(Refusal::bad_request)
}

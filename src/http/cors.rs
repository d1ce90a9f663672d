//! Cross-origin access to `/graphql` and `/graphql/stream`: `CORS_ALLOWED_ORIGINS` lists
//! the origins whose pages may call them (`*`: any); with none listed only the server's
//! own origin may. A request whose `Origin` is neither listed nor the server's own is
//! refused with `403` before anything runs — preflights, requests and websocket upgrades
//! alike (browsers apply no CORS to websockets, so this check is what stops cross-site
//! websocket hijacking). Requests with no `Origin` are not from a browser page and pass.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::ClientArgs;

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The origins `CORS_ALLOWED_ORIGINS` allows, normalised (`scheme://host[:port]`, lowercase).
#[derive(Debug, Clone)]
pub(crate) struct Origins {
    any: bool,
    listed: Vec<String>,
}

impl Origins {
    pub(crate) fn from_config(clients: &ClientArgs) -> Arc<Self> {
        let listed: Vec<String> =
            clients.cors_allowed_origins.iter().map(|o| normalise(o)).filter(|o| !o.is_empty()).collect();
        Arc::new(Self { any: listed.iter().any(|o| o == "*"), listed })
    }

    /// Whether a request with these headers may go on: no `Origin`, the server's own, or
    /// an allowed one.
    pub(crate) fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else { return true };
        let Ok(origin) = origin.to_str() else { return false };
        let origin = normalise(origin);
        self.any || self.listed.contains(&origin) || same_origin(&origin, headers)
    }

    /// The CORS headers for allowed origins: the methods these paths serve and the
    /// request headers their clients send.
    pub(crate) fn layer(&self) -> CorsLayer {
        let allow_origin = if self.any {
            AllowOrigin::any()
        } else {
            let listed = self.listed.clone();
            AllowOrigin::predicate(move |origin, _| origin.to_str().is_ok_and(|o| listed.contains(&normalise(o))))
        };
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                // Apollo's multipart subscriptions send a quoted Accept value, which is
                // not CORS-safelisted.
                header::ACCEPT,
                HeaderName::from_static("last-event-id"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id")])
            .max_age(PREFLIGHT_MAX_AGE)
    }
}

/// Refuses a request from an origin that is not allowed, before it reaches a handler.
pub(crate) async fn guard(State(origins): State<Arc<Origins>>, request: Request, next: Next) -> Response {
    if origins.allows(request.headers()) {
        return next.run(request).await;
    }
    refused()
}

/// `403` with a GraphQL error body: the origin may not call this server.
pub(crate) fn refused() -> Response {
    let body = serde_json::json!({ "errors": [{
        "message": "this origin may not call the API; the server's operator lists allowed origins in CORS_ALLOWED_ORIGINS",
        "extensions": { "code": "FORBIDDEN" },
    }] });
    (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string())
        .into_response()
}

/// A page on the server's own origin: the `Origin`'s host and port are the request's `Host`.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    authority.eq_ignore_ascii_case(host.trim())
}

fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(list: &[&str]) -> Arc<Origins> {
        let mut clients = crate::config::Config::with_database("sqlite::memory:").clients;
        clients.cors_allowed_origins = list.iter().map(|s| s.to_string()).collect();
        Origins::from_config(&clients)
    }

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        headers
    }

    #[test]
    fn with_no_origins_listed_only_the_servers_own_origin_and_non_browsers_pass() {
        let none = origins(&[""]);
        assert!(none.allows(&headers(None, "127.0.0.1:8080")));
        assert!(none.allows(&headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080")));
        assert!(!none.allows(&headers(Some("http://127.0.0.1:9999"), "127.0.0.1:8080")));
        assert!(!none.allows(&headers(Some("null"), "127.0.0.1:8080")));
    }

    #[test]
    fn listed_origins_pass_whatever_their_case_or_trailing_slash() {
        let listed = origins(&["https://App.example/", " http://localhost:3000"]);
        assert!(listed.allows(&headers(Some("https://app.example"), "api.example")));
        assert!(listed.allows(&headers(Some("http://localhost:3000"), "api.example")));
        assert!(!listed.allows(&headers(Some("https://evil.example"), "api.example")));
        assert!(origins(&["*"]).allows(&headers(Some("https://evil.example"), "api.example")));
    }
}

//! All routes of the server, with the layers every request passes: a request id (taken
//! from `x-request-id` or made, and returned), a span per request, and the body limit.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::routing::{get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use super::{assets, cors, graphql, health, logout, metrics, polling, signin, sse, websub};
use crate::state::AppState;

/// The span of one request: method, path (never the query string, which can carry a
/// GraphQL document with patient data) and the request id. Traced, it continues the
/// caller's trace (`traceparent`, `tracestate`); a malformed one is ignored (a new root).
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let request_id = header("x-request-id").unwrap_or("-");
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
        otel.kind = "server",
    );
    crate::telemetry::adopt(&span, header("traceparent"), header("tracestate"));
    span
}

/// The AsyncAPI document of the event API.
async fn asyncapi() -> axum::Json<serde_json::Value> {
    axum::Json(crate::asyncapi::document().await)
}

/// The API's paths, behind the origin check and the CORS headers (`http::cors`).
fn api(state: &AppState) -> Router<AppState> {
    let origins = cors::Origins::from_config(&state.config.clients);
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphql/stream", get(sse::get).post(sse::post))
        .route("/practices/{practice_id}/events", get(polling::get))
        .layer(origins.layer())
        .layer(axum::middleware::from_fn_with_state(origins, cors::guard))
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api(&state))
        .route("/", get(assets::dashboard))
        .route("/console", get(assets::console))
        .route("/auth/config", get(signin::config))
        .route("/assets/{name}", get(assets::script))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/asyncapi.json", get(asyncapi))
        .route("/oidc/backchannel-logout", post(logout::backchannel))
        .route("/websub", post(websub::post))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

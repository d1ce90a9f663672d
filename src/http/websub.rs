//! The WebSub hub's HTTP face: `POST /websub` (form-encoded `hub.*` fields) answers `202`
//! and verifies the intent with the callback in the background (a subscription is active
//! only once verified). The topics are the long-poll URLs, which carry the `Link` headers.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::{authorization, resolve};
use super::polling::{base_url, rate_limited, refused};
use crate::auth::Grant;
use crate::error::AppError;
use crate::limits::Limits;
use crate::state::AppState;
use crate::webhooks::websub::{self, Mode};

#[tracing::instrument(skip_all, name = "websub_hub")]
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        let message = "send the hub.* fields as Content-Type: application/x-www-form-urlencoded";
        let mut response = refused(&AppError::bad_input(message));
        *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return response;
    }
    let auth = match Box::pin(resolve(&state.services.domain, authorization(&headers).as_deref())).await {
        Ok(auth) => auth,
        Err(denied) => return denied.into_response(),
    };
    let Some(principal) = auth.0 else { return refused(&AppError::Unauthenticated) };
    if Box::pin(state.services.domain.limits.allow(&principal.limit_key())).await.is_err() {
        return rate_limited();
    }
    let base = base_url(&state, &headers);
    let intent = match websub::parse_request(&body, &base) {
        Ok(intent) => intent,
        Err(err) => return refused(&err),
    };
    let practice_id = intent.topic.practice_id.clone();
    if let Err(err) = principal.read(&practice_id, "practice") {
        return refused(&err);
    }
    if matches!(principal.grant, Grant::Patient { .. }) {
        return refused(&AppError::forbidden("a patient cannot subscribe a callback to the practice's events"));
    }
    let db = &state.services.domain.db;
    let settings = &state.config.webhooks;
    if intent.mode == Mode::Subscribe {
        // The callback must be a public http(s) URL unless WEBHOOK_ALLOW_PRIVATE allows it.
        if let Err(err) = crate::webhooks::inputs::url(&intent.callback, &settings.allow_private).await {
            return refused(&err);
        }
        match crate::events::log::head(db, &practice_id).await {
            Ok(Some(_)) => {}
            Ok(None) => return refused(&AppError::NotFound("practice")),
            Err(err) => return refused(&err),
        }
        let quota = state.services.domain.limits.quota(&practice_id).await;
        match websub::count_others(db, &intent).await.and_then(|n| Limits::check_webhook_endpoints(&quota, n)) {
            Ok(()) => {}
            Err(err) => return refused(&err),
        }
    }
    let (db, clock) = (db.clone(), state.services.domain.clock.clone());
    let (allow, timeout) = (settings.allow_private.clone(), settings.timeout);
    state.tracker.spawn(async move {
        if let Err(err) = websub::verify_and_apply(&db, &clock, &allow, timeout, &intent).await {
            tracing::warn!(error = %err, "applying a verified WebSub intent failed");
        }
    });
    (StatusCode::ACCEPTED, [(header::CONTENT_TYPE, "text/plain")], "verifying the intent with the callback\n")
        .into_response()
}

//! `POST /oidc/backchannel-logout`: the issuer's logout token (OpenID Connect Back-Channel
//! Logout 1.0, a form field `logout_token`). Verified, it closes every connection of the
//! session or person on every replica and refuses their tokens from then on. Answers 200
//! (`Cache-Control: no-store`), or 400 `{"error": "invalid_request", …}` with nothing done.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::limits::Control;
use crate::state::AppState;

/// The longest form body accepted (a logout token is a few hundred bytes).
const MAX_FORM: usize = 16 * 1024;

fn refused(status: StatusCode, description: &str) -> Response {
    let body = serde_json::json!({ "error": "invalid_request", "error_description": description });
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[tracing::instrument(skip_all, name = "backchannel_logout")]
pub async fn backchannel(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(identity) = state.services.domain.identity.clone() else {
        return refused(StatusCode::NOT_FOUND, "no identity provider is configured (OIDC_ISSUER)");
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return refused(StatusCode::BAD_REQUEST, "send logout_token as application/x-www-form-urlencoded");
    }
    if body.len() > MAX_FORM {
        return refused(StatusCode::BAD_REQUEST, "the form is too large");
    }
    let mut tokens = url::form_urlencoded::parse(&body).filter(|(name, _)| name == "logout_token");
    let (Some((_, token)), None) = (tokens.next(), tokens.next()) else {
        return refused(StatusCode::BAD_REQUEST, "the form must carry exactly one logout_token");
    };
    let logout = match identity.logout(&token).await {
        Ok(logout) => logout,
        Err(reason) => {
            tracing::info!(reason, "a logout token was refused");
            return refused(StatusCode::BAD_REQUEST, "the logout token is not valid");
        }
    };
    tracing::info!(sid = ?logout.session_id, sub = ?logout.subject, "signed out at the identity provider");
    identity.logouts.record(&logout);
    let services = &state.services.domain;
    services.sessions.close_person(logout.subject.as_deref(), logout.session_id.as_deref());
    let control = Control::LoggedOut { session_id: logout.session_id, subject: logout.subject, at: logout.at };
    services.limits.broadcast(control).await;
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

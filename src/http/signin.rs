//! `GET /auth/config`: what the dashboard and the console need to sign a person in at the
//! identity provider (authorization code with PKCE, as the public client `OIDC_CLIENT_ID`):
//! the issuer, the client, the audience to ask a token for and the scopes (`OIDC_SCOPE`). `{}` when no
//! issuer or no client is configured: the pages then offer only a pasted key. The pages'
//! Content-Security-Policy lets them reach that issuer (`connect_origin`), nothing else.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::AppState;

/// What a page needs to start the code flow; the rest it learns from the issuer's discovery.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SignIn {
    issuer: String,
    client_id: String,
    audience: String,
    scope: String,
}

/// The browser sign-in, when an issuer (by discovery) and a public client are configured.
pub(super) fn configured(state: &AppState) -> Option<SignIn> {
    let identity = state.services.domain.identity.as_ref()?;
    let client_id = identity.settings().client_id.clone()?;
    Some(SignIn {
        issuer: identity.issuer()?.to_string(),
        client_id,
        audience: identity.settings().audience.clone(),
        scope: identity.settings().scope.clone(),
    })
}

/// The issuer's origin (`https://id.example`), which the pages fetch discovery and tokens from.
pub(super) fn connect_origin(state: &AppState) -> Option<String> {
    let signin = configured(state)?;
    let url = url::Url::parse(&signin.issuer).ok()?;
    Some(url.origin().ascii_serialization()).filter(|origin| origin != "null")
}

/// `GET /auth/config`.
#[tracing::instrument(skip_all, name = "auth_config")]
pub async fn config(State(state): State<AppState>) -> Response {
    let body = match configured(&state) {
        Some(signin) => serde_json::to_value(signin).unwrap_or_default(),
        None => serde_json::json!({}),
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

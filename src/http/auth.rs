//! Reading credentials off a request and resolving them to a caller: an API key, or a
//! person's access token (a JWT) when an issuer is configured.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{Auth, bearer};
use crate::domain::{Rejected, Services};

/// The `Authorization` header's value, if it is valid text.
pub fn authorization(headers: &HeaderMap) -> Option<String> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Why a presented access token lets nobody in. (An unknown key is no caller instead:
/// resolvers answer UNAUTHENTICATED, as they always have.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Not a valid token: UNAUTHENTICATED, HTTP 401 `Bearer error="invalid_token"`.
    InvalidToken,
    /// A valid token that grants nothing usable: FORBIDDEN, with the reason.
    NoScope(String),
}

impl Denied {
    pub fn message(&self) -> String {
        match self {
            Denied::InvalidToken => {
                "the access token is not valid (expired, not for this API, or not signed by the issuer)".into()
            }
            Denied::NoScope(reason) => format!("the access token grants no access here: {reason}"),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Denied::InvalidToken => "UNAUTHENTICATED",
            Denied::NoScope(_) => "FORBIDDEN",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Denied::InvalidToken => StatusCode::UNAUTHORIZED,
            Denied::NoScope(_) => StatusCode::FORBIDDEN,
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750).
    pub fn challenge(&self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Denied::InvalidToken => "Bearer error=\"invalid_token\"",
            Denied::NoScope(_) => "Bearer error=\"insufficient_scope\"",
        })
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let body =
            serde_json::json!({ "errors": [{ "message": self.message(), "extensions": { "code": self.code() } }] });
        let mut response =
            (self.status(), [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, self.challenge());
        response
    }
}

/// Resolves an `Authorization` value to the caller. An unknown, revoked or malformed key
/// yields no caller: resolvers then answer UNAUTHENTICATED. A token that does not verify
/// or grants nothing is refused outright.
pub async fn resolve(services: &Services, authorization: Option<&str>) -> Result<Auth, Denied> {
    let Some(presented) = authorization.and_then(bearer) else { return Ok(Auth(None)) };
    match services.authenticate(presented).await {
        Ok(principal) => Ok(Auth(Some(principal))),
        Err(Rejected::UnknownKey) => Ok(Auth(None)),
        Err(Rejected::Lookup(err)) => {
            tracing::error!(error = %err, "authentication lookup failed");
            Ok(Auth(None))
        }
        Err(Rejected::InvalidToken(reason)) => {
            tracing::info!(reason, "an access token was refused");
            Err(Denied::InvalidToken)
        }
        Err(Rejected::NoScope(reason)) => {
            tracing::info!(reason, "an access token grants no scope");
            Err(Denied::NoScope(reason))
        }
    }
}

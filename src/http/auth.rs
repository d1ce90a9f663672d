//! Reading credentials off a request and resolving them to a caller.

use axum::http::{HeaderMap, header};

use crate::auth::{Auth, bearer};
use crate::domain::Services;

/// The `Authorization` header's value, if it is valid text.
pub fn authorization(headers: &HeaderMap) -> Option<String> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Resolves an `Authorization` value to the caller. An unknown, revoked or malformed key
/// yields no caller: resolvers then answer UNAUTHENTICATED.
pub async fn resolve(services: &Services, authorization: Option<&str>) -> Auth {
    let Some(key) = authorization.and_then(bearer) else { return Auth(None) };
    let keys = &services.keys;
    match keys.authenticate(&services.db, services.admin_key_hash.as_deref(), key, services.now_ms()).await {
        Ok(principal) => Auth(Some(principal)),
        Err(crate::error::AppError::Unauthenticated) => Auth(None),
        Err(err) => {
            tracing::error!(error = %err, "authentication lookup failed");
            Auth(None)
        }
    }
}

//! One presented credential to one caller: a person's access token when an issuer is
//! configured and the credential is shaped like a JWT, an API key otherwise. Every door
//! (through `http::auth`) and `refreshCredentials` ask here, so the two cannot disagree.

use super::Services;
use crate::auth::Principal;
use crate::error::AppError;
use crate::identity::{Refused, looks_like_jwt};

/// Why a credential names no caller.
#[derive(Debug)]
pub enum Rejected {
    /// An unknown, revoked or malformed API key.
    UnknownKey,
    /// An access token that does not verify (the reason is for the log, never the client).
    InvalidToken(String),
    /// An access token that verifies but grants nothing usable (the reason is the client's).
    NoScope(String),
    /// The key lookup itself failed.
    Lookup(AppError),
}

impl Services {
    /// The caller `presented` (a bare key or token, without `Bearer `) names.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, Rejected> {
        if let Some(identity) = &self.identity
            && looks_like_jwt(presented)
        {
            return identity.verify(presented).await.map_err(|refused| match refused {
                Refused::Invalid(reason) => Rejected::InvalidToken(reason),
                Refused::NoScope(reason) => Rejected::NoScope(reason),
            });
        }
        match self.keys.authenticate(&self.db, self.admin_key_hash.as_deref(), presented, self.now_ms()).await {
            Ok(principal) => Ok(principal),
            Err(AppError::Unauthenticated) => Err(Rejected::UnknownKey),
            Err(err) => Err(Rejected::Lookup(err)),
        }
    }
}

//! One access token verified: a JWT the issuer signed (RS256, ES256 or EdDSA, by a key of
//! its published set), for our audience, from the configured issuer, inside its validity
//! window (give or take `JWT_LEEWAY`), of a session not logged out — and what its claims
//! object grants. Anything else is refused, and the reason is logged, never the token.

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};
use std::sync::Arc;

use super::claims::ClaimsObject;
use super::jwks::Jwks;
use super::logouts::Logouts;
use super::settings::{IdentitySettings, KeySource};
use crate::auth::{Actor, Person, Principal};
use crate::clock::SharedClock;

/// The longest token accepted: an access token is a few hundred bytes to a few KB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The longest `sub` accepted (OpenID Connect: at most 255 ASCII characters).
const MAX_SUBJECT: usize = 255;
/// The longest display name kept.
const MAX_NAME: usize = 200;
/// The algorithms accepted; `none` and the HMAC family never are.
pub const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// Why a token does not let its bearer in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not a valid token (UNAUTHENTICATED); the reason is for the log only.
    Invalid(String),
    /// A valid token whose claims grant nothing usable (FORBIDDEN, with this reason).
    NoScope(String),
}

/// Whether a presented credential is a JWT rather than an API key: three base64url parts,
/// the first a JSON object (`eyJ` is `{"` encoded).
pub fn looks_like_jwt(presented: &str) -> bool {
    presented.starts_with("eyJ") && presented.matches('.').count() == 2
}

/// The verifier of people's access tokens, one per process.
pub struct Identity {
    settings: IdentitySettings,
    jwks: Jwks,
    pub logouts: Logouts,
    clock: SharedClock,
}

impl Identity {
    pub fn new(settings: IdentitySettings, clock: SharedClock) -> Self {
        Self { jwks: Jwks::new(settings.keys.clone()), settings, logouts: Logouts::default(), clock }
    }

    pub fn settings(&self) -> &IdentitySettings {
        &self.settings
    }

    /// The issuer tokens must name, when one is configured.
    pub fn issuer(&self) -> Option<&str> {
        match &self.settings.keys {
            KeySource::Issuer { issuer, .. } => Some(issuer),
            KeySource::Jwks(_) => None,
        }
    }

    /// The claims of a token signed by one of the issuer's keys, with `aud` one of
    /// `audiences`, `iss` the configured issuer and every claim of `required` present;
    /// times are the caller's to check.
    pub(super) async fn signed_claims(
        &self,
        token: &str,
        audiences: &[&str],
        required: &[&str],
    ) -> Result<Map<String, Value>, String> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(format!("the token is longer than {MAX_TOKEN_BYTES} bytes"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("the token's header is malformed: {e}"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(format!("the algorithm {:?} is not accepted", header.alg));
        }
        let kid = header.kid.as_deref().ok_or("the token's header names no kid")?;
        let key = self.jwks.key(kid).await?;
        if key.algorithm != header.alg {
            return Err(format!("the key {kid:?} is for {:?}, the token says {:?}", key.algorithm, header.alg));
        }
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_audience(audiences);
        validation.set_required_spec_claims(required);
        if let Some(issuer) = self.issuer() {
            validation.set_issuer(&[issuer]);
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
            .map_err(|e| format!("the token does not verify: {e}"))?;
        Ok(data.claims)
    }

    /// Now, in seconds.
    pub(super) fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    /// The principal an access token grants, or why it grants none.
    pub async fn verify(&self, token: &str) -> Result<Principal, Refused> {
        let required = ["iss", "aud", "sub", "exp"];
        let claims =
            self.signed_claims(token, &[&self.settings.audience], &required).await.map_err(Refused::Invalid)?;
        let now = self.now();
        let leeway = self.settings.leeway.as_secs() as i64;
        let exp = seconds(&claims, "exp").ok_or_else(|| Refused::Invalid("the token has no exp".into()))?;
        if exp.saturating_add(leeway) <= now {
            return Err(Refused::Invalid("the token has expired".into()));
        }
        if seconds(&claims, "nbf").is_some_and(|nbf| nbf.saturating_sub(leeway) > now) {
            return Err(Refused::Invalid("the token is not valid yet".into()));
        }
        let subject = text(&claims, "sub").filter(|s| !s.is_empty() && s.len() <= MAX_SUBJECT);
        let subject = subject.ok_or_else(|| Refused::Invalid("the token's sub is empty or too long".into()))?;
        let session_id = text(&claims, "sid");
        if self.logouts.refuses(session_id.as_deref(), &subject, seconds(&claims, "iat")) {
            return Err(Refused::Invalid("the token's session was logged out".into()));
        }
        let grant = self.claims_object(&claims)?.grant().map_err(Refused::NoScope)?;
        let name = ["name", "preferred_username", "email"]
            .iter()
            .find_map(|claim| text(&claims, claim))
            .map(|name| name.chars().take(MAX_NAME).collect());
        let person = Person {
            subject,
            name,
            client_id: text(&claims, "azp").or_else(|| text(&claims, "client_id")),
            session_id,
            expires_at_ms: exp.saturating_mul(1000),
        };
        Ok(Principal { actor: Actor::Person(Arc::new(person)), grant })
    }

    /// The claims object at the namespace: an object, or (as some issuers write custom
    /// claims) the JSON text of one.
    fn claims_object(&self, claims: &Map<String, Value>) -> Result<ClaimsObject, Refused> {
        let namespace = &self.settings.namespace;
        let found = claims
            .get(namespace)
            .ok_or_else(|| Refused::NoScope(format!("the token carries no claims object at {namespace:?}")))?;
        let parsed = match found {
            Value::String(text) => serde_json::from_str(text),
            other => serde_json::from_value(other.clone()),
        };
        parsed.map_err(|_| Refused::NoScope(format!("the claims object at {namespace:?} is malformed")))
    }
}

/// A NumericDate claim, in whole seconds (fractions are allowed by RFC 7519).
pub(super) fn seconds(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    let value = claims.get(name)?;
    value.as_i64().or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

pub(super) fn text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::looks_like_jwt;

    #[test]
    fn keys_and_tokens_are_told_apart() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"));
        assert!(!looks_like_jwt("cs_0123456789abcdef"));
        assert!(!looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0"));
        assert!(!looks_like_jwt("admin.key.with.dots"));
    }
}

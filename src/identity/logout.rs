//! OpenID Connect Back-Channel Logout 1.0: the issuer POSTs a logout token when a person's
//! session ends; once verified, every connection of that session (`sid`) — or, when the
//! token names no session, of that person (`sub`) — closes, on every replica (through the
//! control channel), and their tokens are refused (`logouts`).

use super::logouts::LoggedOut;
use super::token::{Identity, seconds, text};

/// The event a logout token must carry.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

impl Identity {
    /// A logout token verified per the spec: signed by the issuer, `aud` our client (or
    /// audience), an `iat`, the back-channel logout event, a `sid` or `sub` or both, and
    /// no `nonce`. Err is a reason for the issuer (400), never a token.
    pub async fn logout(&self, token: &str) -> Result<LoggedOut, String> {
        let settings = self.settings();
        let mut audiences = vec![settings.audience.as_str()];
        audiences.extend(settings.client_id.as_deref());
        // `sub` is optional in a logout token (a `sid` may name the session alone).
        let claims = self.signed_claims(token, &audiences, &["iss", "aud", "iat"]).await?;
        if claims.contains_key("nonce") {
            return Err("a logout token must not carry a nonce".into());
        }
        let events = claims.get("events").and_then(|e| e.as_object());
        if !events.is_some_and(|e| e.get(LOGOUT_EVENT).is_some_and(|v| v.is_object())) {
            return Err(format!("a logout token's events must hold {LOGOUT_EVENT}"));
        }
        let at = seconds(&claims, "iat").ok_or("a logout token must carry iat")?;
        let now = self.now();
        let leeway = settings.leeway.as_secs() as i64;
        if seconds(&claims, "exp").is_some_and(|exp| exp + leeway <= now) {
            return Err("the logout token has expired".into());
        }
        let (session_id, subject) = (text(&claims, "sid"), text(&claims, "sub"));
        if session_id.is_none() && subject.is_none() {
            return Err("a logout token must carry sid or sub".into());
        }
        Ok(LoggedOut { session_id, subject, at: at.max(now) })
    }
}

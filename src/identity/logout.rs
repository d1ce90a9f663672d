//! OpenID Connect Back-Channel Logout 1.0: the issuer POSTs a logout token when a person's
//! session ends; once verified, every connection of that session (`sid`) or person
//! (`sub`) closes, on every replica (through the control channel), and their tokens are
//! refused until they would have expired anyway.

use std::collections::HashMap;
use std::sync::Mutex;

use super::token::{Identity, seconds, text};

/// The event a logout token must carry.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout is remembered: longer than any access token lives.
const REMEMBERED_SECS: i64 = 24 * 3600;
/// The most logouts remembered; past it the oldest are forgotten first.
const CAPACITY: usize = 100_000;

/// A session or person logged out at the issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedOut {
    pub session_id: Option<String>,
    pub subject: Option<String>,
    /// When, in seconds: a person's tokens issued later (a new sign-in) are accepted.
    pub at: i64,
}

/// The logouts this replica knows of, refused until they are forgotten.
#[derive(Default)]
pub struct Logouts {
    /// `sid:<id>` or `sub:<subject>` → when it was logged out (seconds).
    entries: Mutex<HashMap<String, i64>>,
}

impl Logouts {
    pub fn record(&self, logout: &LoggedOut) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, at| *at > logout.at - REMEMBERED_SECS);
        if entries.len() >= CAPACITY
            && let Some(oldest) = entries.iter().min_by_key(|(_, at)| **at).map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        if let Some(sid) = &logout.session_id {
            entries.insert(format!("sid:{sid}"), logout.at);
        }
        if let Some(sub) = &logout.subject {
            entries.insert(format!("sub:{sub}"), logout.at);
        }
    }

    /// Whether a token of this session and subject, issued at `iat`, was logged out: its
    /// session was, or its person was and the token is not newer than that.
    pub fn refuses(&self, session_id: Option<&str>, subject: &str, iat: Option<i64>) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.is_empty() {
            return false;
        }
        if session_id.is_some_and(|sid| entries.contains_key(&format!("sid:{sid}"))) {
            return true;
        }
        entries.get(&format!("sub:{subject}")).is_some_and(|at| iat.is_none_or(|iat| iat <= *at))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_out_person_may_sign_in_again() {
        let logouts = Logouts::default();
        assert!(!logouts.refuses(Some("s1"), "alice", Some(100)));
        logouts.record(&LoggedOut { session_id: Some("s1".into()), subject: Some("alice".into()), at: 200 });
        assert!(logouts.refuses(Some("s1"), "alice", Some(300)), "the session stays out");
        assert!(logouts.refuses(None, "alice", Some(150)), "an older token of the person is refused");
        assert!(logouts.refuses(None, "alice", None));
        assert!(!logouts.refuses(Some("s2"), "alice", Some(300)), "a new sign-in is not");
        assert!(!logouts.refuses(Some("s9"), "bob", Some(150)));
    }
}

//! The logouts this replica knows of: a session (`sid`) logged out is refused from then
//! on; a person (`sub`) logged out has every token issued until then refused (a new
//! sign-in works). A logout that names a session ends that session only, and, of the
//! person's tokens, those that name no session (nothing tells which session they are of).

use std::collections::HashMap;
use std::sync::Mutex;

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
    /// `sid:<id>`, `sub:<subject>` or `unsessioned:<subject>` (the person's tokens that
    /// name no session) → when it was logged out (seconds).
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
        match (&logout.session_id, &logout.subject) {
            (Some(sid), sub) => {
                entries.insert(format!("sid:{sid}"), logout.at);
                if let Some(sub) = sub {
                    entries.insert(format!("unsessioned:{sub}"), logout.at);
                }
            }
            (None, Some(sub)) => {
                entries.insert(format!("sub:{sub}"), logout.at);
            }
            (None, None) => {}
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
        let before = |at: &i64| iat.is_none_or(|iat| iat <= *at);
        entries.get(&format!("sub:{subject}")).is_some_and(before)
            || (session_id.is_none() && entries.get(&format!("unsessioned:{subject}")).is_some_and(before))
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
        assert!(!logouts.refuses(Some("s0"), "alice", Some(150)), "her other session does not");
        assert!(logouts.refuses(None, "alice", Some(150)), "an older token naming no session is refused");
        assert!(logouts.refuses(None, "alice", None));
        assert!(!logouts.refuses(None, "alice", Some(300)), "a newer one is not");
        assert!(!logouts.refuses(Some("s9"), "bob", Some(150)));
        logouts.record(&LoggedOut { session_id: None, subject: Some("alice".into()), at: 400 });
        assert!(logouts.refuses(Some("s0"), "alice", Some(350)), "the person is out: every session");
        assert!(!logouts.refuses(Some("s2"), "alice", Some(500)), "a new sign-in is not");
    }
}

//! Open connections by API key or person, so that a revoked or expired key's sockets are
//! closed: at once on the replica that revoked it, and within a second everywhere by a
//! sweep that checks every locally connected key in one query. A person's connections
//! close when their token expires (the same sweep) or their session is logged out. A
//! connection's credentials can be replaced while it is open (`refreshCredentials`),
//! which moves it to the new key or token.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Principal;
use crate::clock::SharedClock;
use crate::db::entities::api_key;

/// The close code of a connection whose credentials stopped being valid (graphql-ws: Forbidden).
pub const FORBIDDEN: u16 = 4403;

/// Tells one connection to close, with a code and a reason. Every open connection holds
/// one, so it is a reason and a `Notify` (~100 B), not a `watch` channel (~400 B: its
/// receivers' notifiers are sharded eight ways).
type Closer = Arc<Closing>;

#[derive(Default)]
struct Closing {
    reason: Mutex<Option<(u16, String)>>,
    told: Notify,
}

impl Closing {
    fn reason(&self) -> Option<(u16, String)> {
        self.reason.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Closes with `reason` (replacing one set before).
    fn close(&self, reason: &str) {
        *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = Some((FORBIDDEN, reason.to_string()));
        self.told.notify_waiters();
    }

    /// Closes with `reason` unless a reason was set before.
    fn close_first(&self, reason: &str) {
        let mut current = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if current.is_none() {
            *current = Some((FORBIDDEN, reason.to_string()));
            drop(current);
            self.told.notify_waiters();
        }
    }

    async fn closed(self: Arc<Self>) -> (u16, String) {
        loop {
            // Registered before the reason is read, so a close in between is not missed.
            let told = self.told.notified();
            tokio::pin!(told);
            told.as_mut().enable();
            if let Some(reason) = self.reason() {
                return reason;
            }
            told.await;
        }
    }
}

#[derive(Default)]
pub struct Sessions {
    by_key: Mutex<HashMap<String, HashMap<u64, Closer>>>,
    /// The connections that act as a person: their token's end and session.
    people: Mutex<HashMap<u64, Signed>>,
    next_id: AtomicU64,
}

/// A person's connection: who, when its token expires, and the issuer's session it is of.
struct Signed {
    subject: String,
    expires_at_ms: i64,
    session_id: Option<String>,
    closer: Closer,
}

/// Unregisters its connection from a key when dropped.
pub struct SessionGuard {
    sessions: Arc<Sessions>,
    key: String,
    id: u64,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions.people.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
        let mut by_key = self.sessions.by_key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(closers) = by_key.get_mut(&self.key) {
            closers.remove(&self.id);
            if closers.is_empty() {
                by_key.remove(&self.key);
            }
        }
    }
}

/// The credentials of one open connection: who it acts as now, registered under its key.
pub struct Credentials {
    current: Mutex<(Principal, SessionGuard)>,
    closer: Closer,
}

impl Credentials {
    pub fn principal(&self) -> Principal {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    /// Acts as `principal` from now on; the old key's revocation no longer closes it.
    pub fn replace(&self, principal: Principal) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let sessions = current.1.sessions.clone();
        let guard = sessions.register(&principal, self.closer.clone());
        *current = (principal, guard);
    }

    /// Resolves when the connection must close.
    pub fn closed(&self) -> BoxFuture<'static, (u16, String)> {
        self.closer.clone().closed().boxed()
    }
}

impl Sessions {
    fn register(self: &Arc<Self>, principal: &Principal, closer: Closer) -> SessionGuard {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let key = principal.limit_key().into_owned();
        if let Some(person) = principal.person() {
            let signed = Signed {
                subject: person.subject.clone(),
                expires_at_ms: person.expires_at_ms,
                session_id: person.session_id.clone(),
                closer: closer.clone(),
            };
            self.people.lock().unwrap_or_else(|e| e.into_inner()).insert(id, signed);
        }
        self.by_key.lock().unwrap_or_else(|e| e.into_inner()).entry(key.clone()).or_default().insert(id, closer);
        SessionGuard { sessions: self.clone(), key, id }
    }

    /// Registers a new connection acting as `principal`.
    pub fn open(self: &Arc<Self>, principal: Principal) -> Arc<Credentials> {
        let closer: Closer = Arc::default();
        let guard = self.register(&principal, closer.clone());
        Arc::new(Credentials { current: Mutex::new((principal, guard)), closer })
    }

    /// Closes every connection of a key on this replica.
    pub fn close_key(&self, key_id: &str, reason: &str) {
        let closers = self.by_key.lock().unwrap_or_else(|e| e.into_inner()).remove(key_id);
        for (_, closer) in closers.into_iter().flatten() {
            closer.close(reason);
        }
    }

    /// Closes the connections the issuer logged out, on this replica: of one session when
    /// the logout names it (and the person's connections whose token names no session),
    /// else of the person.
    pub fn close_person(&self, subject: Option<&str>, session_id: Option<&str>) {
        let reason = "signed out at the identity provider";
        let people = self.people.lock().unwrap_or_else(|e| e.into_inner());
        let ended = |signed: &&Signed| match (session_id, subject) {
            (Some(sid), sub) => {
                signed.session_id.as_deref() == Some(sid)
                    || (signed.session_id.is_none() && Some(signed.subject.as_str()) == sub)
            }
            (None, Some(sub)) => signed.subject == sub,
            (None, None) => false,
        };
        for signed in people.values().filter(ended) {
            signed.closer.close(reason);
        }
    }

    /// Closes the connections whose token has expired.
    fn close_expired(&self, now_ms: i64) {
        let people = self.people.lock().unwrap_or_else(|e| e.into_inner());
        for signed in people.values().filter(|p| p.expires_at_ms <= now_ms) {
            signed.closer.close_first("access token expired");
        }
    }

    /// How many connections a key has open on this replica.
    pub fn count(&self, key: &str) -> usize {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner()).get(key).map_or(0, HashMap::len)
    }

    /// The stored keys with open connections (the bootstrap admin key is not stored).
    fn key_ids(&self) -> Vec<String> {
        let by_key = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        by_key
            .keys()
            .filter(|k| k.as_str() != Principal::BOOTSTRAP && !k.starts_with(Principal::PERSON_PREFIX))
            .cloned()
            .collect()
    }

    /// Every second, closes the connections of keys that were revoked (on any replica),
    /// expired or deleted.
    pub async fn sweep(self: Arc<Self>, db: DatabaseConnection, clock: SharedClock, stop: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.close_expired(clock.now().timestamp_millis());
            let ids = self.key_ids();
            if ids.is_empty() {
                continue;
            }
            let keys = match api_key::Entity::find().filter(api_key::Column::Id.is_in(ids.clone())).all(&db).await {
                Ok(keys) => keys,
                Err(err) => {
                    tracing::warn!(error = %err, "credential sweep failed");
                    continue;
                }
            };
            let now = clock.now().timestamp_millis();
            for id in ids {
                let reason = match keys.iter().find(|k| k.id == id) {
                    None => "API key deleted",
                    Some(k) if k.revoked_at.is_some() => "API key revoked",
                    Some(k) if k.expires_at.is_some_and(|e| e <= now) => "API key expired",
                    Some(_) => continue,
                };
                tracing::info!(key_id = %id, reason, "closing the connections of a key");
                self.close_key(&id, reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_close_reaches_a_waiter_before_and_after_it() {
        let closer: Closer = Arc::default();
        let waiting = tokio::spawn(closer.clone().closed());
        tokio::task::yield_now().await;
        closer.close_first("access token expired");
        closer.close_first("not this one");
        let reason = (FORBIDDEN, "access token expired".to_string());
        assert_eq!(waiting.await.unwrap(), reason);
        assert_eq!(closer.clone().closed().await, reason, "a late waiter sees the reason set");
        closer.close("API key revoked");
        assert_eq!(closer.closed().await, (FORBIDDEN, "API key revoked".to_string()));
    }

    #[tokio::test]
    async fn an_open_connection_waits() {
        let closer: Closer = Arc::default();
        let waited = tokio::time::timeout(Duration::from_millis(50), closer.closed()).await;
        assert!(waited.is_err(), "no reason, no close");
    }
}

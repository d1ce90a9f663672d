//! Open connections by API key, so that a revoked or expired key's sockets are closed:
//! at once on the replica that revoked it, and within a second everywhere by a sweep that
//! checks every locally connected key in one query.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::db::entities::api_key;

/// The close code of a connection whose credentials stopped being valid (graphql-ws: Forbidden).
pub const FORBIDDEN: u16 = 4403;

type Closers = HashMap<u64, oneshot::Sender<(u16, String)>>;

#[derive(Default)]
pub struct Sessions {
    by_key: Mutex<HashMap<String, Closers>>,
    next_id: AtomicU64,
}

/// Unregisters its connection when dropped.
pub struct SessionGuard {
    sessions: Arc<Sessions>,
    key_id: String,
    id: u64,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut by_key = self.sessions.by_key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(closers) = by_key.get_mut(&self.key_id) {
            closers.remove(&self.id);
            if closers.is_empty() {
                by_key.remove(&self.key_id);
            }
        }
    }
}

impl Sessions {
    /// Registers a connection of `key_id`: the guard keeps it registered, the future
    /// resolves with a close code and reason when the connection must close.
    pub fn register(self: &Arc<Self>, key_id: &str) -> (SessionGuard, BoxFuture<'static, (u16, String)>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.by_key.lock().unwrap_or_else(|e| e.into_inner()).entry(key_id.to_string()).or_default().insert(id, tx);
        let closed = async move {
            match rx.await {
                Ok(reason) => reason,
                Err(_) => std::future::pending().await,
            }
        };
        (SessionGuard { sessions: self.clone(), key_id: key_id.to_string(), id }, closed.boxed())
    }

    /// Closes every connection of a key on this replica.
    pub fn close_key(&self, key_id: &str, reason: &str) {
        let closers = self.by_key.lock().unwrap_or_else(|e| e.into_inner()).remove(key_id);
        for (_, closer) in closers.into_iter().flatten() {
            let _ = closer.send((FORBIDDEN, reason.to_string()));
        }
    }

    /// How many connections a key has open on this replica.
    pub fn count(&self, key_id: &str) -> usize {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner()).get(key_id).map_or(0, HashMap::len)
    }

    fn key_ids(&self) -> Vec<String> {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
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

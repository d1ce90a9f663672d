//! Resolved API keys, kept for a second per replica, so a burst of requests with one key
//! costs one database read, not one each. An entry is checked for expiry on every use;
//! a key revoked on this replica is forgotten at once, on another replica within
//! `FRESH` (the same bound the credential sweep gives open sockets). Unknown keys are
//! never kept.

use sea_orm::DatabaseConnection;
use std::time::{Duration, Instant};

use super::Principal;
use super::keys::{lookup, presented_hash};
use crate::error::{AppError, AppResult};

/// How long a resolved key is trusted without reading it again.
const FRESH: Duration = Duration::from_secs(1);
/// Keys kept at most.
const CAPACITY: usize = 10_000;

#[derive(Clone)]
struct Entry {
    principal: Principal,
    key_id: Option<String>,
    expires_at: Option<i64>,
    read_at: Instant,
}

pub struct KeyCache {
    entries: quick_cache::sync::Cache<String, Entry>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self { entries: quick_cache::sync::Cache::new(CAPACITY) }
    }
}

impl KeyCache {
    /// Resolves a presented key to its principal — the bootstrap admin key (compared in
    /// constant time) or a stored, unrevoked, unexpired key — through the cache.
    pub async fn authenticate(
        &self,
        db: &DatabaseConnection,
        admin_key_hash: Option<&str>,
        presented: &str,
        now_ms: i64,
    ) -> AppResult<Principal> {
        let hash = presented_hash(presented)?;
        if let Some(entry) = self.entries.get(&hash)
            && entry.read_at.elapsed() < FRESH
        {
            if entry.expires_at.is_some_and(|e| e <= now_ms) {
                return Err(AppError::Unauthenticated);
            }
            return Ok(entry.principal);
        }
        let (principal, expires_at) = lookup(db, admin_key_hash, &hash, now_ms).await?;
        let key_id = principal.key_id().map(str::to_string);
        self.entries.insert(hash, Entry { principal: principal.clone(), key_id, expires_at, read_at: Instant::now() });
        Ok(principal)
    }

    /// Forgets a key at once (it was revoked here).
    pub fn forget(&self, key_id: &str) {
        self.entries.retain(|_, entry| entry.key_id.as_deref() != Some(key_id));
    }
}

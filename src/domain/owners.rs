//! Which practice a patient, provider or appointment belongs to. That never changes, so
//! a mutation finds its practice's writer here instead of by a read that, on SQLite's
//! one connection, would wait behind the batch in flight (and elsewhere costs a round
//! trip). Bounded; an entry that fell out is read again.

use std::future::Future;

use crate::error::AppResult;

/// Entities remembered at most (about 100 bytes each).
const CAPACITY: usize = 100_000;

pub struct Owners {
    practices: quick_cache::sync::Cache<String, String>,
}

impl Default for Owners {
    fn default() -> Self {
        Self { practices: quick_cache::sync::Cache::new(CAPACITY) }
    }
}

impl Owners {
    pub fn remember(&self, id: &str, practice_id: &str) {
        self.practices.insert(id.to_string(), practice_id.to_string());
    }

    /// The practice of `id`, from the cache or else from `load` (then remembered).
    pub async fn practice_of(&self, id: &str, load: impl Future<Output = AppResult<String>>) -> AppResult<String> {
        if let Some(practice_id) = self.practices.get(id) {
            return Ok(practice_id);
        }
        let practice_id = load.await?;
        self.remember(id, &practice_id);
        Ok(practice_id)
    }
}

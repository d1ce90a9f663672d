//! Which practice a patient, provider or appointment belongs to. That never changes, so
//! a mutation finds its practice's writer here instead of by a read that, on SQLite's
//! one connection, would wait behind the batch in flight (and elsewhere costs a round
//! trip). Bounded; an entry that fell out is read again.

use sea_orm::{DatabaseConnection, EntityTrait, PrimaryKeyTrait, QuerySelect};

use super::validate;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};

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

    /// The practice of the `E` row `id` (the input `field`, a `what` to the caller), if the
    /// caller may see it: from the cache, or else its `practice_id` column (then
    /// remembered). An unknown row, or one of a practice the caller cannot see, is
    /// NOT_FOUND.
    pub async fn practice_of<E>(
        &self,
        db: &DatabaseConnection,
        who: &Principal,
        (field, what): (&str, &'static str),
        id: &str,
        practice_id: E::Column,
    ) -> AppResult<String>
    where
        E: EntityTrait,
        <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<String>,
    {
        let id = validate::id(field, id)?;
        let practice_id = match self.practices.get(id) {
            Some(practice_id) => practice_id,
            None => {
                let read = E::find_by_id(id.to_string()).select_only().column(practice_id).into_tuple::<String>();
                let practice_id = read.one(db).await?.ok_or(AppError::NotFound(what))?;
                self.remember(id, &practice_id);
                practice_id
            }
        };
        who.read(&practice_id, what)?;
        Ok(practice_id)
    }
}

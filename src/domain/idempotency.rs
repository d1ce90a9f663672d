//! Idempotency records: the first result of a mutation, kept under its key.

use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, TryInsertResult};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::entities::idempotency;
use crate::error::{AppError, AppResult};

/// A mutation's idempotency key, with the fingerprint of the request it was first used for.
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
    pub operation: &'static str,
    pub request_hash: String,
}

impl IdempotencyKey {
    pub fn new(scope: String, key: &str, operation: &'static str, request: &impl Serialize) -> AppResult<Self> {
        super::validate::idempotency_key(key)?;
        let body = serde_json::to_vec(request)?;
        let mut hasher = Sha256::new();
        hasher.update(operation.as_bytes());
        hasher.update([0]);
        hasher.update(&body);
        let request_hash = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self { scope, key: key.to_string(), operation, request_hash })
    }

    /// The stored response for this key, if the key was used before with the same request;
    /// CONFLICT if it was used for a different one.
    pub async fn lookup(&self, conn: &impl ConnectionTrait) -> AppResult<Option<String>> {
        let Some(row) = idempotency::Entity::find_by_id((self.scope.clone(), self.key.clone())).one(conn).await? else {
            return Ok(None);
        };
        if row.operation != self.operation || row.request_hash != self.request_hash {
            return Err(AppError::conflict("this idempotencyKey was already used with a different request"));
        }
        Ok(Some(row.response))
    }

    /// Stores the first result under the key; false if a concurrent request with the same
    /// key committed first (on Postgres this waits for that request's transaction).
    pub async fn store(&self, conn: &impl ConnectionTrait, response: String, now_ms: i64) -> AppResult<bool> {
        let inserted = idempotency::Entity::insert(idempotency::ActiveModel {
            scope: Set(self.scope.clone()),
            key: Set(self.key.clone()),
            operation: Set(self.operation.to_string()),
            request_hash: Set(self.request_hash.clone()),
            response: Set(response),
            created_at: Set(now_ms),
        })
        .on_conflict_do_nothing()
        .exec_without_returning(conn)
        .await?;
        Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
    }
}

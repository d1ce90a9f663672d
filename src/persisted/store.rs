//! The `persisted_queries` table: documents by hash. Automatic entries are bounded (the
//! least recently used go first); registered ones are never pruned.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TryInsertResult,
};
use sha2::{Digest, Sha256};

use crate::db::entities::persisted_query::{self, Column, Entity};

/// A hit touches `last_used_at` only when it is older than this: pruning needs recency,
/// not a write per request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The lowercase hex SHA-256 of a document, as Apollo's clients compute it.
pub fn sha256_hex(document: &str) -> String {
    Sha256::digest(document.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A stored document.
pub struct Found {
    pub document: String,
    pub registered: bool,
}

#[derive(Clone)]
pub struct DocumentStore {
    db: DatabaseConnection,
    /// Automatic entries kept at most.
    max_automatic: u64,
}

impl DocumentStore {
    pub fn new(db: DatabaseConnection, max_automatic: u64) -> Self {
        Self { db, max_automatic }
    }

    /// The document stored under `hash`, if any.
    pub async fn find(&self, hash: &str, now_ms: i64) -> Result<Option<Found>, DbErr> {
        let Some(row) = Entity::find_by_id(hash.to_string()).one(&self.db).await? else { return Ok(None) };
        if row.last_used_at < now_ms - TOUCH_EVERY_MS {
            Entity::update_many()
                .col_expr(Column::LastUsedAt, now_ms.into())
                .filter(Column::Hash.eq(hash))
                .exec(&self.db)
                .await?;
        }
        Ok(Some(Found { document: row.document, registered: row.registered }))
    }

    /// Stores an automatic entry (a no-op if the hash is there), then prunes past the bound.
    pub async fn remember(&self, hash: &str, document: &str, now_ms: i64) -> Result<(), DbErr> {
        let inserted = Entity::insert(row(hash, document, false, now_ms))
            .on_conflict_do_nothing_on([Column::Hash])
            .exec_without_returning(&self.db)
            .await?;
        if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
            self.prune().await?;
        }
        Ok(())
    }

    /// Registers a trusted document (or marks a stored one as registered); its hash.
    pub async fn register(&self, document: &str, now_ms: i64) -> Result<String, DbErr> {
        let hash = sha256_hex(document);
        Entity::insert(row(&hash, document, true, now_ms))
            .on_conflict(OnConflict::column(Column::Hash).update_column(Column::Registered).to_owned())
            .exec_without_returning(&self.db)
            .await?;
        Ok(hash)
    }

    /// Deletes the least recently used automatic entries past the bound.
    async fn prune(&self) -> Result<(), DbErr> {
        let automatic = Entity::find().filter(Column::Registered.eq(false));
        let count = automatic.clone().count(&self.db).await?;
        if count <= self.max_automatic {
            return Ok(());
        }
        let oldest: Vec<String> = automatic
            .order_by_asc(Column::LastUsedAt)
            .limit(count - self.max_automatic)
            .select_only()
            .column(Column::Hash)
            .into_tuple()
            .all(&self.db)
            .await?;
        Entity::delete_many()
            .filter(Column::Hash.is_in(oldest))
            .filter(Column::Registered.eq(false))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

fn row(hash: &str, document: &str, registered: bool, now_ms: i64) -> persisted_query::ActiveModel {
    persisted_query::ActiveModel {
        hash: Set(hash.to_string()),
        document: Set(document.to_string()),
        registered: Set(registered),
        created_at: Set(now_ms),
        last_used_at: Set(now_ms),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_are_lowercase_hex_sha256() {
        assert_eq!(super::sha256_hex("{ practices { edges { cursor } } }").len(), 64);
        assert_eq!(super::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}

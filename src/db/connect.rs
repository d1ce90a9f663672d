//! Opening the pool for either backend and bringing the schema up to date.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, SqlErr};
use std::time::Duration;

use super::settings::DbArgs;

/// A connection idle in the pool at least this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Connects and applies pending migrations.
pub async fn connect(args: &DbArgs) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(args.database_url.clone());
    options.connect_timeout(Duration::from_secs(5)).acquire_timeout(args.db_acquire_timeout).sqlx_logging(false);
    // SQLx pings every connection it hands out, one more round trip for each transaction
    // and each read; a connection is pinged on its way back to the pool as well (SQLx
    // always does), so only one that sat idle can have gone bad unnoticed.
    options.test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
    if args.database_url.starts_with("sqlite:") {
        // SQLite has one writer; a single connection serialises transactions instead of
        // failing them with SQLITE_BUSY, which is what the embedded default needs. It
        // also means that code holding that connection (a transaction) must never ask
        // the pool for another: it would wait for itself until `DB_ACQUIRE_TIMEOUT`.
        options.max_connections(1).min_connections(1);
    } else {
        options.max_connections(args.db_max_connections.max(2));
    }
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // Write-ahead log: one fsync per commit (of the WAL) instead of the rollback
        // journal's several, and readers never block the writer. It persists in the file.
        // `synchronous` stays FULL (SQLite's default): a committed mutation survives a power
        // cut; NORMAL would skip that fsync and could lose the last commits (never corrupt).
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// Whether the error is a unique-constraint violation (a lost race on an insert).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

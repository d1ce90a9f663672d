//! The database: its settings, connecting (with migrations), the sea-orm entities and
//! keyset paging.

mod connect;
pub mod entities;
pub mod paging;
mod settings;

pub use connect::{connect, is_unique_violation};
pub use settings::{DEFAULT_DATABASE_URL, DbArgs, parse_timeout};

/// Rows per INSERT statement (Postgres takes at most 65,535 bind parameters): the log's
/// and the outbox's batched inserts both keep to it.
pub const ROWS_PER_INSERT: usize = 1000;

/// Adds a bind value to a hand-written Postgres statement and returns its placeholder
/// (`$n`), for the few statements that combine what sea-orm builds one by one.
pub fn bind(value: sea_orm::Value, values: &mut Vec<sea_orm::Value>) -> String {
    values.push(value);
    format!("${}", values.len())
}

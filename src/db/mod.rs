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

/// Like `bind`, for a statement whose placeholders appear in the order they are bound, on
/// either backend: on SQLite an anonymous `?`. SQLite looks a numbered parameter's name up
/// by walking the list of all of them, and SQLx asks for every parameter's name, so binding
/// a statement of n `$n` parameters takes n² steps: a 300-row audit INSERT (3,600
/// parameters) spent three quarters of the server's CPU there.
pub fn bind_in_order(backend: sea_orm::DbBackend, value: sea_orm::Value, values: &mut Vec<sea_orm::Value>) -> String {
    match backend {
        sea_orm::DbBackend::Sqlite => {
            values.push(value);
            "?".to_string()
        }
        _ => bind(value, values),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{DbBackend, Value};

    #[test]
    fn sqlite_marks_are_anonymous_and_postgres_marks_numbered_in_bind_order() {
        for (backend, marks) in [(DbBackend::Sqlite, ["?", "?", "?"]), (DbBackend::Postgres, ["$1", "$2", "$3"])] {
            let mut values = Vec::new();
            let got: Vec<String> = [Value::from(1i64), Value::from("a"), Value::from(3i64)]
                .into_iter()
                .map(|v| bind_in_order(backend, v, &mut values))
                .collect();
            assert_eq!(got, marks, "{backend:?}");
            assert_eq!(
                values,
                [Value::from(1i64), Value::from("a"), Value::from(3i64)],
                "{backend:?}: values in bind order"
            );
        }
    }
}

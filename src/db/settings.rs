//! The database settings (`DATABASE_URL`, the pool's size and how long a query waits for
//! a connection), shared by `serve` and every subcommand that opens the database.

use clap::Args;
use std::time::Duration;

/// The default database: a SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://clinicstream.sqlite?mode=rwc";

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database URL: `postgres://…` or `sqlite://file?mode=rwc`. Default: a local SQLite file.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Size of the database connection pool (SQLite always uses one writer connection).
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,
    /// How long a query waits for a connection of the pool before it fails, like `30s`,
    /// `2m` or `1m30s`.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub db_acquire_timeout: Duration,
}

/// Parses a timeout in the duration grammar (`30s`, `2m`, `1m30s`). Zero is refused
/// (nothing could ever be waited for); at most an hour.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    crate::duration::positive_up_to(text, "a timeout like 30s, 2m or 1m30s", Duration::from_secs(3600), "an hour")
}

#[cfg(test)]
mod tests {
    use super::parse_timeout;
    use std::time::Duration;

    #[test]
    fn timeouts_read_like_people_write_them() {
        assert_eq!(parse_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_timeout("1m30s"), Ok(Duration::from_secs(90)));
        for bad in ["", "30", "s", "0s", "-5s", "30 seconds", "1.5s", "2h", "99999999999999999999s"] {
            assert!(parse_timeout(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

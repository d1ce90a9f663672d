//! Logging setup: `RUST_LOG` picks what is logged, `LOG_FORMAT=json` makes it
//! machine-readable.
//!
//! What never reaches the log: API keys (only key ids), patient data (names, emails,
//! phones — domain spans skip their inputs), and SQL with bound values. The database
//! drivers log statements with their values at debug level, so their targets are held at
//! `warn` whatever `RUST_LOG` says.

use tracing_subscriber::{EnvFilter, fmt};

/// Appended after `RUST_LOG`, so they win over it.
const ALWAYS_QUIET: [&str; 3] = ["sqlx=warn", "sea_orm=warn", "sea_query=warn"];

pub fn filter() -> EnvFilter {
    let base = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string());
    let directives = std::iter::once(base.as_str()).chain(ALWAYS_QUIET).collect::<Vec<_>>().join(",");
    EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(ALWAYS_QUIET.join(",") + ",info"))
}

pub fn init(format: &str) {
    let builder = fmt().with_env_filter(filter()).with_writer(std::io::stderr);
    // A second init (tests boot many apps in one process) is harmless, so its error is ignored.
    let _ = if format == "json" {
        builder.json().with_current_span(true).with_span_list(false).try_init()
    } else {
        builder.try_init()
    };
}

//! Logging: `RUST_LOG` picks what is logged, `LOG_FORMAT=json` makes it machine-readable.
//!
//! What never reaches the log: API keys (only key ids), patient data (names, emails,
//! phones — domain spans skip their inputs), and SQL with bound values. The database
//! drivers log statements with their values at debug level, so their targets are held at
//! `warn` whatever `RUST_LOG` says.

use tracing_subscriber::{EnvFilter, Layer, Registry, fmt};

/// Appended after `RUST_LOG`, so they win over it.
const ALWAYS_QUIET: [&str; 3] = ["sqlx=warn", "sea_orm=warn", "sea_query=warn"];

pub fn filter() -> EnvFilter {
    let base = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string());
    let directives = std::iter::once(base.as_str()).chain(ALWAYS_QUIET).collect::<Vec<_>>().join(",");
    EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(ALWAYS_QUIET.join(",") + ",info"))
}

/// The log lines on stderr, in `format`, filtered by `RUST_LOG` (a filter of their own:
/// what is traced does not depend on what is logged).
pub fn layer(format: &str) -> Box<dyn Layer<Registry> + Send + Sync> {
    let lines = if format == "json" {
        fmt::layer().json().with_current_span(true).with_span_list(false).with_writer(std::io::stderr).boxed()
    } else {
        fmt::layer().with_writer(std::io::stderr).boxed()
    };
    lines.with_filter(filter()).boxed()
}

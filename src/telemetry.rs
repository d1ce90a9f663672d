//! Logging setup: `RUST_LOG` picks what is logged, `LOG_FORMAT=json` makes it machine-readable.

use tracing_subscriber::{EnvFilter, fmt};

pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests boot many apps in one process) is harmless, so its error is ignored.
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}

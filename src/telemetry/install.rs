//! Installs the process's `tracing` subscriber: the log lines, and the OpenTelemetry layer
//! when tracing is on. It exports the crate's own spans at `info` and above, whatever
//! `RUST_LOG` says (and never the exporter's own, which would feed themselves).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use super::logging;
use super::otel::{self, Tracing};
use super::settings::TracingArgs;

/// Logs only (subcommands that serve nothing).
pub fn init(format: &str) {
    // A second init (tests boot many apps in one process) is harmless, so its error is ignored.
    let _ = tracing_subscriber::registry().with(logging::layer(format)).try_init();
}

/// Logs, and traces when `tracing` has an endpoint. The returned `Tracing` exports what is
/// still queued when it is shut down (or dropped).
pub fn init_with_tracing(format: &str, tracing: &TracingArgs) -> Result<Tracing, String> {
    let Some((tracer, installed)) = otel::tracer(tracing)? else {
        init(format);
        return Ok(Tracing::off());
    };
    let ours = Targets::new().with_target("clinicstream", tracing::Level::INFO);
    let spans = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(ours);
    tracing_subscriber::registry()
        .with(logging::layer(format))
        .with(spans)
        .try_init()
        .map_err(|e| format!("installing the tracing subscriber: {e}"))?;
    otel::switch_on();
    Ok(installed)
}

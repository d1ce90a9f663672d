//! What the server tells operators about itself: log lines (`logging`: `RUST_LOG`,
//! `LOG_FORMAT`) and OpenTelemetry traces (`otel`, set by the standard `OTEL_*` variables
//! of `settings`; off without `OTEL_EXPORTER_OTLP_ENDPOINT`). `context` is the W3C trace
//! context stored with events; `spans` the spans the doors make, each behind one check.

mod context;
mod install;
mod logging;
mod otel;
mod settings;
mod spans;

pub use context::{TraceContext, remote};
pub use install::{init, init_with_tracing};
pub use logging::filter;
pub use otel::{Tracing, on};
pub use settings::{SamplerName, TracingArgs, parse_endpoint, parse_ratio, parse_sampler};
pub use spans::{adopt, delivery, if_on, link};

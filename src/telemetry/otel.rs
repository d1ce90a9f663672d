//! The OpenTelemetry pipeline: an OTLP/HTTP exporter behind the SDK's batch span
//! processor (its own thread; reqwest's blocking client), the sampler of the settings, and
//! the `tracing` layer that turns the crate's spans into OpenTelemetry spans.
//!
//! Whether it is on is one process-wide flag, like the `tracing` subscriber it belongs to:
//! the hot paths read it before they make a span, so with tracing off a delivery makes none.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider};
use std::sync::atomic::{AtomicBool, Ordering};

use super::settings::TracingArgs;

static ON: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (an endpoint is set and the pipeline was installed).
#[inline]
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The installed pipeline; `shutdown` exports what is still queued.
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    pub fn off() -> Self {
        Self { provider: None }
    }

    /// Exports what the batch processor still holds and stops it (blocks up to the export
    /// timeout: run it where blocking is allowed).
    pub fn shutdown(&mut self) {
        if let Some(provider) = self.provider.take() {
            ON.store(false, Ordering::Relaxed);
            if let Err(err) = provider.shutdown() {
                eprintln!("clinicstream: exporting the last spans failed: {err}");
            }
        }
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The tracer of the settings, or None when tracing is off. Err: the exporter could not
/// be built (the endpoint is checked by the settings, so this is rare).
pub fn tracer(args: &TracingArgs) -> Result<Option<(SdkTracer, Tracing)>, String> {
    let Some(endpoint) = &args.otlp_endpoint else { return Ok(None) };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .with_timeout(args.timeout())
        .build()
        .map_err(|e| format!("the OTLP exporter for {endpoint}: {e}"))?;
    let batches = BatchConfigBuilder::default().with_scheduled_delay(args.schedule_delay()).build();
    let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batches).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(args.sampler())
        .with_resource(Resource::builder().with_service_name(args.otel_service_name.clone()).build())
        .build();
    let tracer = provider.tracer("clinicstream");
    Ok(Some((tracer, Tracing { provider: Some(provider) })))
}

/// Marks the pipeline installed: from now on the hot paths make their spans.
pub(super) fn switch_on() {
    ON.store(true, Ordering::Relaxed);
}

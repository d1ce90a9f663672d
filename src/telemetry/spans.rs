//! The spans the doors make for traces, each behind the one `on()` check: with tracing off
//! they are `Span::none()` and cost a load of a flag. A delivery's span is a root of its
//! own (its sampling is its own), linked to the trace of the mutation that appended the
//! event.

use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::context::{TraceContext, remote};
use super::otel::on;

/// `make()` when tracing is on, else no span.
#[inline]
pub fn if_on(make: impl FnOnce() -> Span) -> Span {
    if on() { make() } else { Span::none() }
}

/// Makes `span` (not yet entered) a child of the caller's `traceparent`/`tracestate`;
/// malformed or missing ones leave it a new root.
pub fn adopt(span: &Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    if on() && traceparent.is_some() {
        let _ = span.set_parent(remote(traceparent, tracestate));
    }
}

/// Links `span` (not yet entered) to the trace of `trace`.
pub fn link(span: &Span, trace: Option<&TraceContext>) {
    if let Some(trace) = trace {
        span.add_link(trace.span_context().clone());
    }
}

/// The span of one event delivered through one door (`websocket`, `sse`, `multipart`,
/// `webhook`, `bridge`, `live_query`, `grpc`), linked to the mutation's trace.
pub fn delivery(door: &'static str, practice_id: &str, seq: i64, trace: Option<&TraceContext>) -> Span {
    if !on() {
        return Span::none();
    }
    let span = tracing::info_span!(
        parent: None,
        "deliver",
        otel.name = door_name(door),
        otel.kind = "producer",
        clinicstream.door = door,
        clinicstream.practice_id = practice_id,
        clinicstream.seq = seq,
    );
    link(&span, trace);
    span
}

fn door_name(door: &'static str) -> &'static str {
    match door {
        "websocket" => "deliver websocket",
        "sse" => "deliver sse",
        "multipart" => "deliver multipart",
        "webhook" => "deliver webhook",
        "bridge" => "deliver bridge",
        "live_query" => "deliver live_query",
        "grpc" => "deliver grpc",
        _ => "deliver",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_tracing_off_no_span_is_made() {
        // Nothing in the unit tests installs the pipeline: tracing is off.
        assert!(!on());
        assert!(delivery("websocket", "prc_1", 1, None).is_none());
        assert!(if_on(|| unreachable!("made a span with tracing off")).is_none());
    }
}

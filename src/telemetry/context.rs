//! A W3C trace context (`traceparent`, and `tracestate` when there is one): the one a
//! mutation ran in, stored with its events in the log and carried with them on the bus, so
//! that a delivery minutes later, on another replica, links back to it. Anything that is
//! not a valid context — a malformed or oversized header, a damaged stored value — is
//! ignored (None), never an error and never stored.

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::otel;

/// Longest `traceparent` read (version 00 is 55 characters; later versions may add fields).
const MAX_TRACEPARENT: usize = 128;
/// Longest `tracestate` kept: W3C asks that at least 512 characters be propagated; a
/// longer one is dropped, the traceparent kept.
const MAX_TRACESTATE: usize = 512;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    traceparent: Box<str>,
    tracestate: Box<str>,
    /// Parsed once: every delivery links to it.
    span: SpanContext,
}

/// The two headers as the propagator reads them.
struct Headers<'a> {
    traceparent: &'a str,
    tracestate: &'a str,
}

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(self.traceparent),
            "tracestate" if !self.tracestate.is_empty() => Some(self.tracestate),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// The OpenTelemetry context of `traceparent`/`tracestate` as a remote parent; the empty
/// context (a new root) when they are missing or malformed.
pub fn remote(traceparent: Option<&str>, tracestate: Option<&str>) -> opentelemetry::Context {
    let Some(traceparent) = traceparent.filter(|t| t.len() <= MAX_TRACEPARENT) else {
        return opentelemetry::Context::new();
    };
    let tracestate = tracestate.filter(|t| t.len() <= MAX_TRACESTATE).unwrap_or("");
    TraceContextPropagator::new().extract(&Headers { traceparent, tracestate })
}

impl TraceContext {
    /// The context of a span, when it is a valid one.
    pub fn of(span: &SpanContext) -> Option<Self> {
        if !span.is_valid() {
            return None;
        }
        let traceparent =
            format!("00-{}-{}-{:02x}", span.trace_id(), span.span_id(), span.trace_flags().to_u8()).into_boxed_str();
        let tracestate = span.trace_state().header();
        let tracestate = if tracestate.len() <= MAX_TRACESTATE { tracestate } else { String::new() };
        let span =
            SpanContext::new(span.trace_id(), span.span_id(), span.trace_flags(), true, span.trace_state().clone());
        Some(Self { traceparent, tracestate: tracestate.into_boxed_str(), span })
    }

    /// The context of the current span; None when tracing is off (nothing is stored).
    pub fn current() -> Option<Self> {
        if !otel::on() {
            return None;
        }
        Self::of_span(&tracing::Span::current())
    }

    /// The context of `span` (None when it is not exported).
    pub fn of_span(span: &tracing::Span) -> Option<Self> {
        Self::of(span.context().span().span_context())
    }

    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    pub fn tracestate(&self) -> Option<&str> {
        (!self.tracestate.is_empty()).then_some(&*self.tracestate)
    }

    /// As stored in the log and carried on the bus: the traceparent, then a space and the
    /// tracestate when there is one (a traceparent has no spaces).
    pub fn encode(&self) -> String {
        match self.tracestate() {
            Some(state) => format!("{} {state}", self.traceparent),
            None => self.traceparent.to_string(),
        }
    }

    /// A stored or carried context, checked again; None when it is not a valid one.
    pub fn decode(text: &str) -> Option<Self> {
        let (traceparent, tracestate) = match text.split_once(' ') {
            Some((parent, state)) => (parent, Some(state)),
            None => (text, None),
        };
        let context = remote(Some(traceparent), tracestate);
        let span = context.span();
        Self::of(span.span_context())
    }

    /// The span context to link to (remote: it was made elsewhere, or earlier).
    pub fn span_context(&self) -> &SpanContext {
        &self.span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_context_round_trips_through_its_stored_form() {
        let plain = TraceContext::decode(PARENT).expect("valid");
        assert_eq!(plain.traceparent(), PARENT);
        assert_eq!(plain.tracestate(), None);
        assert_eq!(plain.encode(), PARENT);
        let with_state = TraceContext::decode(&format!("{PARENT} congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")).unwrap();
        assert_eq!(with_state.tracestate(), Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
        assert_eq!(TraceContext::decode(&with_state.encode()), Some(with_state.clone()));
        let linked = with_state.span_context();
        assert_eq!(linked.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(linked.is_remote());
    }

    #[test]
    fn malformed_and_oversized_contexts_are_ignored() {
        let long = format!("00-{}-00f067aa0ba902b7-01", "a".repeat(200));
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            long.as_str(),
        ] {
            assert_eq!(TraceContext::decode(bad), None, "{bad}");
            assert!(!remote(Some(bad), None).has_active_span(), "{bad}");
        }
        let huge_state = format!("{PARENT} k={}", "v".repeat(600));
        assert_eq!(TraceContext::decode(&huge_state).unwrap().tracestate(), None, "the traceparent is kept");
    }
}

//! The message every bridge sends: one event of the log as a CloudEvents 1.0 event in
//! structured JSON mode (`application/cloudevents+json`). `id` is the event's cursor, the
//! same id as the webhook `webhook-id` and the GraphQL `cursor`; `data` is the webhook
//! body's `data`, built by the same function. An event appended by a traced mutation
//! carries that mutation's W3C trace context as the CloudEvents distributed-tracing
//! extension (`traceparent`, `tracestate`), so a consumer's span can join its trace.

use serde_json::{Map, Value, json};

use super::settings::PayloadMode;
use crate::events::{Payload, StoredEvent};
use crate::telemetry::TraceContext;
use crate::vocab::EventType;

/// The content type of a structured-mode CloudEvent in JSON.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";

/// Digits of the `sequence` extension: the width of the largest seq (an i64), so that the
/// string order is the seq order, as the extension requires ("lexicographically
/// orderable", padded with leading zeros).
const SEQUENCE_WIDTH: usize = 19;

/// One event ready for any broker: what routes it, what dedupes it, and its exact bytes.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub practice_id: String,
    pub event_type: EventType,
    /// The event's cursor: the CloudEvent `id`, `Nats-Msg-Id`, AMQP `message_id`.
    pub id: String,
    /// When the event was appended (epoch ms), for the commit → ack latency.
    pub occurred_at_ms: i64,
    pub body: Vec<u8>,
    /// The patient the event is about (the audit trail records its delivery).
    pub patient_id: String,
    /// The appending mutation's trace context (the publish span links to it).
    pub trace: Option<TraceContext>,
}

/// The `sequence` extension for a seq: decimal, zero-padded to a fixed width.
pub fn sequence(seq: i64) -> String {
    format!("{seq:0SEQUENCE_WIDTH$}")
}

/// The `data` of `event`'s message: the webhook body's `data`, or its thin form (the
/// lake's `data` column too).
pub fn data_of(event: &StoredEvent, mode: PayloadMode) -> Result<Map<String, Value>, serde_json::Error> {
    Ok(match mode {
        PayloadMode::Full => crate::webhooks::event_data(event)?,
        PayloadMode::Thin => thin_data(event),
    })
}

/// The CloudEvent for `event`.
pub fn encode(event: &StoredEvent, mode: PayloadMode) -> Result<Outgoing, serde_json::Error> {
    let data = data_of(event, mode)?;
    let mut cloudevent = json!({
        "specversion": "1.0",
        "id": event.cursor(),
        "source": format!("/practices/{}", event.practice_id),
        "type": event.event_type.as_str(),
        "time": event.occurred_at.to_rfc3339(),
        "datacontenttype": "application/json",
        "sequence": sequence(event.seq),
        "data": data,
    });
    if let Some(trace) = &event.trace {
        cloudevent["traceparent"] = json!(trace.traceparent());
        if let Some(state) = trace.tracestate() {
            cloudevent["tracestate"] = json!(state);
        }
    }
    Ok(Outgoing {
        practice_id: event.practice_id.clone(),
        event_type: event.event_type,
        id: event.cursor(),
        occurred_at_ms: event.occurred_at.timestamp_millis(),
        body: serde_json::to_vec(&cloudevent)?,
        patient_id: event.payload.patient_id().to_string(),
        trace: event.trace.clone(),
    })
}

/// `thin`: the envelope fields of `data` and the ids of the resources, no snapshot (no
/// names, contact details, amounts or reasons).
fn thin_data(event: &StoredEvent) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("cursor".into(), json!(event.cursor()));
    data.insert("seq".into(), json!(event.seq));
    data.insert("type".into(), json!(event.event_type.as_str()));
    data.insert("occurredAt".into(), json!(event.occurred_at.to_rfc3339()));
    data.insert("practiceId".into(), json!(event.practice_id));
    data.insert("patientId".into(), json!(event.payload.patient_id()));
    match &event.payload {
        Payload::Appointment { appointment } => {
            data.insert("appointmentId".into(), json!(appointment.id));
            data.insert("providerId".into(), json!(appointment.provider.id));
        }
        Payload::Payment { payment, .. } => {
            data.insert("paymentId".into(), json!(payment.id));
        }
        Payload::Charge { charge, .. } => {
            data.insert("chargeId".into(), json!(charge.id));
        }
        Payload::Patient { .. } => {}
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_strings_sort_like_their_seqs() {
        assert_eq!(sequence(42), "0000000000000000042");
        assert_eq!(sequence(i64::MAX).len(), SEQUENCE_WIDTH);
        let mut seqs = [1, 10, 9, 100, 99, 1_000_000];
        let mut strings: Vec<String> = seqs.iter().map(|s| sequence(*s)).collect();
        seqs.sort();
        strings.sort();
        assert_eq!(strings, seqs.iter().map(|s| sequence(*s)).collect::<Vec<_>>());
    }
}

//! What a webhook carries: `{type, timestamp, data}` built from the stored event, so a
//! receiver sees the same id, type, cursor and snapshot a subscriber sees.

use serde_json::{Map, Value, json};

use crate::events::StoredEvent;
use crate::telemetry::TraceContext;

/// A message ready to sign: its id (the `webhook-id` header) and its exact body bytes.
pub struct Message {
    pub id: String,
    pub body: Vec<u8>,
    /// Sent as `traceparent` (and `tracestate`): the attempt's span when traced, else the
    /// appending mutation's context when it was traced.
    pub trace: Option<TraceContext>,
}

impl Message {
    /// The message for one event. The id is the event's cursor: stable across attempts,
    /// redeliveries and replays (receivers dedupe on it), the same on every endpoint, and
    /// usable as `after` to resume a subscription from this event.
    pub fn for_event(event: &StoredEvent) -> Result<Self, serde_json::Error> {
        let body = json!({
            "type": event.event_type.as_str(),
            "timestamp": event.occurred_at.to_rfc3339(),
            "data": event_data(event)?,
        });
        Ok(Self { id: event.cursor(), body: serde_json::to_vec(&body)?, trace: event.trace.clone() })
    }
}

impl Message {
    /// A WebSub content distribution: the body is the event's `data` itself.
    pub fn for_websub(event: &StoredEvent) -> Result<Self, serde_json::Error> {
        Ok(Self { id: event.cursor(), body: serde_json::to_vec(&event_data(event)?)?, trace: event.trace.clone() })
    }
}

/// The body's `data`: cursor, seq, type, occurredAt and practiceId, then the snapshot's
/// fields. The bridges carry the same object as their CloudEvents' `data`.
pub fn event_data(event: &StoredEvent) -> Result<Map<String, Value>, serde_json::Error> {
    let mut data = Map::new();
    data.insert("cursor".into(), json!(event.cursor()));
    data.insert("seq".into(), json!(event.seq));
    data.insert("type".into(), json!(event.event_type.as_str()));
    data.insert("occurredAt".into(), json!(event.occurred_at.to_rfc3339()));
    data.insert("practiceId".into(), json!(event.practice_id));
    if let Value::Object(snapshot) = serde_json::to_value(&event.payload)? {
        data.extend(snapshot);
    }
    Ok(data)
}

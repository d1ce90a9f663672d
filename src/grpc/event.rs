//! One log event as the gRPC `Event`: its envelope as fields, its snapshot as the JSON
//! text of the webhook body's `data` (built by `webhooks::event_data`, the same object
//! the webhooks and the bridges' CloudEvents carry), so every door reads the same bytes.

use crate::events::StoredEvent;

use super::proto::Event;

/// The gRPC message for `event`.
pub(super) fn of(event: &StoredEvent) -> Result<Event, serde_json::Error> {
    let data = serde_json::Value::Object(crate::webhooks::event_data(event)?);
    Ok(Event {
        cursor: event.cursor(),
        seq: event.seq,
        r#type: event.event_type.as_str().to_string(),
        occurred_at: event.occurred_at.to_rfc3339(),
        practice_id: event.practice_id.clone(),
        data: serde_json::to_string(&data)?,
    })
}

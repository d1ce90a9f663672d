//! What goes back out: the reply to a command (a CloudEvent of type
//! `clinicstream.command.result` whose `subject` is the command's id and whose `data` is
//! the GraphQL response) and the dead letter of a message that could not run (a CloudEvent
//! of type `clinicstream.command.dead_letter` with the error and the message as it came).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::command::Unusable;

/// The CloudEvent `type` of a reply.
pub const RESULT_TYPE: &str = "clinicstream.command.result";
/// The CloudEvent `type` of a dead letter.
pub const DEAD_LETTER_TYPE: &str = "clinicstream.command.dead_letter";
/// How much of a dead message is kept in its dead letter (the rest is counted).
const KEPT_BYTES: usize = 64 * 1024;

/// The reply to command `id`: its `id` is derived from the command's, so a consumer
/// that sees a reply twice can tell.
pub fn reply(id: &str, response: &Value, now: DateTime<Utc>) -> Vec<u8> {
    let data = json!({
        "data": response.get("data").cloned().unwrap_or(Value::Null),
        "errors": response.get("errors").cloned().unwrap_or(Value::Null),
    });
    let mut data = data;
    if data["errors"].is_null()
        && let Some(object) = data.as_object_mut()
    {
        object.remove("errors");
    }
    let event = json!({
        "specversion": "1.0",
        "id": format!("{id}/result"),
        "source": "clinicstream",
        "type": RESULT_TYPE,
        "subject": id,
        "time": now.to_rfc3339(),
        "datacontenttype": "application/json",
        "data": data,
    });
    serde_json::to_vec(&event).unwrap_or_default()
}

/// The dead letter of `bytes`: the error (a code and a sentence), the GraphQL response
/// when the command ran and was refused, and the message itself (as text, cut at 64 KiB).
pub fn dead_letter(bytes: &[u8], why: &Unusable, response: Option<&Value>) -> Vec<u8> {
    let kept = String::from_utf8_lossy(&bytes[..bytes.len().min(KEPT_BYTES)]).into_owned();
    let mut event = json!({
        "specversion": "1.0",
        "id": uuid::Uuid::now_v7().to_string(),
        "source": "clinicstream",
        "type": DEAD_LETTER_TYPE,
        "subject": why.id,
        "time": Utc::now().to_rfc3339(),
        "datacontenttype": "application/json",
        "data": {
            "error": { "code": why.code, "message": why.message },
            "response": response,
            "message": kept,
            "messageBytes": bytes.len(),
            "truncated": bytes.len() > KEPT_BYTES,
        },
    });
    if why.id.is_none()
        && let Some(object) = event.as_object_mut()
    {
        object.remove("subject");
    }
    serde_json::to_vec(&event).unwrap_or_default()
}

//! A command as it arrives: a CloudEvent 1.0 in structured JSON mode whose `data` is a
//! GraphQL request. Everything that makes a message unusable is found here, before
//! anything runs, and named in words the sender can act on.

use serde_json::{Map, Value};

use crate::domain::command::MAX_ID_LEN;

/// The CloudEvent `type` of a command.
pub const COMMAND_TYPE: &str = "clinicstream.command";

/// A command ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The CloudEvent `id`: the idempotency key of the command.
    pub id: String,
    /// `{query, variables, operationName, extensions}` as sent.
    pub request: Value,
    /// The CloudEvent extension `replyto`: where the reply goes instead of the default.
    pub reply_to: Option<String>,
}

/// Why a message cannot be a command: a code and a sentence, for the dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    pub code: &'static str,
    pub message: String,
    /// The message's `id`, when it had a readable one.
    pub id: Option<String>,
}

fn unusable(code: &'static str, message: impl Into<String>) -> Unusable {
    Unusable { code, message: message.into(), id: None }
}

/// Reads `bytes` (at most `max_bytes`) sent with `content_type` (if the broker carries one).
pub fn parse(bytes: &[u8], content_type: Option<&str>, max_bytes: usize) -> Result<Command, Unusable> {
    if bytes.len() > max_bytes {
        let message =
            format!("the message has {} bytes; a command may have at most {max_bytes} (MAX_BODY_BYTES)", bytes.len());
        return Err(unusable("TOO_LARGE", message));
    }
    if let Some(content_type) = content_type {
        let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if !matches!(media.as_str(), "" | "application/cloudevents+json" | "application/json") {
            let message = format!(
                "content type {media:?}: send the command as a structured-mode CloudEvent (application/cloudevents+json)"
            );
            return Err(unusable("BAD_CONTENT_TYPE", message));
        }
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|err| unusable("NOT_JSON", format!("the message is not JSON: {err}")))?;
    let Value::Object(event) = value else {
        return Err(unusable("NOT_A_CLOUDEVENT", "the message must be a JSON object (a CloudEvent)"));
    };
    let id = text(&event, "id")?;
    check_id(&id)?;
    let with_id = |mut err: Unusable| {
        err.id = Some(id.clone());
        err
    };
    read(&event).map_err(with_id).map(|(request, reply_to)| Command { id: id.clone(), request, reply_to })
}

fn read(event: &Map<String, Value>) -> Result<(Value, Option<String>), Unusable> {
    if event.get("specversion").and_then(Value::as_str) != Some("1.0") {
        return Err(unusable("NOT_A_CLOUDEVENT", "`specversion` must be \"1.0\" (a CloudEvents 1.0 event)"));
    }
    text(event, "source")?;
    let kind = text(event, "type")?;
    if kind != COMMAND_TYPE {
        return Err(unusable("NOT_A_COMMAND", format!("`type` is {kind:?}; a command's type is {COMMAND_TYPE:?}")));
    }
    if let Some(media) = event.get("datacontenttype") {
        let media = media.as_str().unwrap_or_default().split(';').next().unwrap_or_default().trim();
        if media != "application/json" {
            return Err(unusable("NOT_A_COMMAND", "`datacontenttype` must be application/json (or absent)"));
        }
    }
    if event.contains_key("data_base64") {
        return Err(unusable(
            "NOT_A_COMMAND",
            "`data_base64` is not accepted: `data` must be a GraphQL request object",
        ));
    }
    let reply_to = match event.get("replyto") {
        None | Some(Value::Null) => None,
        Some(Value::String(to)) if !to.is_empty() && to.len() <= 255 && !to.chars().any(char::is_control) => {
            Some(to.clone())
        }
        Some(_) => return Err(unusable("NOT_A_COMMAND", "`replyto` must be a name of 1 to 255 printable characters")),
    };
    Ok((request(event.get("data"))?, reply_to))
}

/// `data`: `query` (a string), optional `variables` (an object), `operationName` (a
/// string) and `extensions` (an object); nothing else.
fn request(data: Option<&Value>) -> Result<Value, Unusable> {
    let Some(Value::Object(data)) = data else {
        return Err(unusable(
            "NOT_A_COMMAND",
            "`data` must be a GraphQL request: {\"query\": \"mutation …\", \"variables\": {…}}",
        ));
    };
    if let Some(unknown) =
        data.keys().find(|k| !matches!(k.as_str(), "query" | "variables" | "operationName" | "extensions"))
    {
        let message = format!(
            "`data` has an unknown member {unknown:?} (a GraphQL request has query, variables, operationName, extensions)"
        );
        return Err(unusable("NOT_A_COMMAND", message));
    }
    let shape = |key: &str, ok: fn(&Value) -> bool| data.get(key).is_none_or(|v| v.is_null() || ok(v));
    if !data.get("query").is_some_and(Value::is_string)
        || !shape("variables", Value::is_object)
        || !shape("operationName", Value::is_string)
        || !shape("extensions", Value::is_object)
    {
        let message = "`data.query` must be a string; `variables` and `extensions` objects, `operationName` a string";
        return Err(unusable("NOT_A_COMMAND", message));
    }
    Ok(Value::Object(data.clone()))
}

fn text(event: &Map<String, Value>, key: &'static str) -> Result<String, Unusable> {
    match event.get(key) {
        Some(Value::String(value)) if !value.is_empty() => Ok(value.clone()),
        _ => Err(unusable("NOT_A_CLOUDEVENT", format!("a CloudEvent needs a non-empty string `{key}`"))),
    }
}

fn check_id(id: &str) -> Result<(), Unusable> {
    if id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        let message = format!("`id` must be 1 to {MAX_ID_LEN} printable characters (it is the idempotency key)");
        return Err(unusable("NOT_A_CLOUDEVENT", message));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(data: Value) -> Vec<u8> {
        let event = json!({"specversion": "1.0", "id": "c-1", "source": "/lab", "type": COMMAND_TYPE, "data": data});
        serde_json::to_vec(&event).unwrap()
    }

    #[test]
    fn a_command_is_read_and_everything_else_is_named() {
        let ok = parse(&event(json!({"query": "mutation { x }"})), Some("application/cloudevents+json"), 1 << 20);
        assert_eq!(ok.unwrap().id, "c-1");
        assert_eq!(parse(b"{not json", None, 1 << 20).unwrap_err().code, "NOT_JSON");
        assert_eq!(parse(b"[]", None, 1 << 20).unwrap_err().code, "NOT_A_CLOUDEVENT");
        assert_eq!(parse(&event(json!({"query": 1})), None, 1 << 20).unwrap_err().code, "NOT_A_COMMAND");
        let extra = parse(&event(json!({"query": "m", "evil": true})), None, 1 << 20).unwrap_err();
        assert!(extra.message.contains("evil") && extra.id.as_deref() == Some("c-1"), "{extra:?}");
        assert_eq!(parse(&event(json!({"query": "m"})), None, 10).unwrap_err().code, "TOO_LARGE");
        assert_eq!(
            parse(&event(json!({"query": "m"})), Some("text/plain"), 1 << 20).unwrap_err().code,
            "BAD_CONTENT_TYPE"
        );
        let hostile = |id: &str| {
            let event =
                json!({"specversion": "1.0", "id": id, "source": "/t", "type": COMMAND_TYPE, "data": {"query": "m"}});
            parse(&serde_json::to_vec(&event).unwrap(), None, 1 << 20).unwrap_err().code
        };
        assert_eq!(hostile("a\u{0}b"), "NOT_A_CLOUDEVENT");
        assert_eq!(hostile(&"x".repeat(201)), "NOT_A_CLOUDEVENT");
        assert_eq!(hostile(""), "NOT_A_CLOUDEVENT");
    }
}

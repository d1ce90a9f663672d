//! The message on a practice's channel: the event, snapshot included, serialised once per
//! publish. It carries the practice and seq so receivers can order and dedupe.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::clock::{from_millis, to_millis};
use crate::error::{AppError, AppResult};
use crate::events::{Payload, StoredEvent};
use crate::telemetry::TraceContext;
use crate::vocab::EventType;

#[derive(Serialize)]
struct Out<'a> {
    p: &'a str,
    s: i64,
    t: &'a str,
    o: i64,
    d: &'a Payload,
    /// The mutation's trace context, when it was traced.
    #[serde(skip_serializing_if = "Option::is_none")]
    c: Option<String>,
}

#[derive(Deserialize)]
struct In<'a> {
    p: String,
    s: i64,
    t: &'a str,
    o: i64,
    #[serde(borrow)]
    d: &'a RawValue,
    #[serde(default)]
    c: Option<&'a str>,
}

/// The channel of a practice. The braces are a Redis Cluster hash tag: with sharded
/// pub/sub, each practice's channel lives on one shard.
pub fn channel(prefix: &str, practice_id: &str) -> String {
    format!("{prefix}:practice:{{{practice_id}}}")
}

/// The practice id of a channel name made by `channel`.
pub fn practice_of<'a>(prefix: &str, channel: &'a str) -> Option<&'a str> {
    channel.strip_prefix(prefix)?.strip_prefix(":practice:{")?.strip_suffix('}')
}

pub fn encode(event: &StoredEvent) -> AppResult<String> {
    let out = Out {
        p: &event.practice_id,
        s: event.seq,
        t: event.event_type.as_str(),
        o: to_millis(event.occurred_at),
        d: &event.payload,
        c: event.trace.as_ref().map(TraceContext::encode),
    };
    Ok(serde_json::to_string(&out)?)
}

pub fn decode(bytes: &[u8]) -> AppResult<StoredEvent> {
    let message: In = serde_json::from_slice(bytes)?;
    let event_type = EventType::parse(message.t)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("unknown event type {:?} on the bus", message.t)))?;
    Ok(StoredEvent {
        practice_id: message.p,
        seq: message.s,
        event_type,
        occurred_at: from_millis(message.o),
        payload: Payload::decode(event_type, message.d.get())?,
        trace: message.c.and_then(TraceContext::decode),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        let name = channel("cs", "prc_1");
        assert_eq!(name, "cs:practice:{prc_1}");
        assert_eq!(practice_of("cs", &name), Some("prc_1"));
        assert_eq!(practice_of("other", &name), None);
    }

    #[test]
    fn the_trace_context_rides_along_and_a_bad_one_is_dropped() {
        let patient = r#"{"patient":{"id":"pat_1","practiceId":"prc_1","firstName":"Ada","lastName":"L","email":null,"phone":null,"dateOfBirth":null,"balanceCents":0,"createdAt":"2026-01-01T00:00:00Z"}}"#;
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let message = format!(r#"{{"p":"prc_1","s":1,"t":"PATIENT_CREATED","o":0,"d":{patient},"c":"{parent} k=v"}}"#);
        let event = decode(message.as_bytes()).unwrap();
        assert_eq!(event.trace.as_ref().map(|t| t.encode()).as_deref(), Some(&*format!("{parent} k=v")));
        assert_eq!(decode(encode(&event).unwrap().as_bytes()).unwrap(), event);
        let bad = format!(r#"{{"p":"prc_1","s":1,"t":"PATIENT_CREATED","o":0,"d":{patient},"c":"00-zz"}}"#);
        assert_eq!(decode(bad.as_bytes()).unwrap().trace, None);
        let none = format!(r#"{{"p":"prc_1","s":1,"t":"PATIENT_CREATED","o":0,"d":{patient}}}"#);
        let untraced = decode(none.as_bytes()).unwrap();
        assert_eq!(untraced.trace, None);
        assert!(!encode(&untraced).unwrap().contains("\"c\""), "nothing added when untraced");
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(decode(b"not json").is_err());
        assert!(decode(br#"{"p":"x","s":1,"t":"NOPE","o":0,"d":{}}"#).is_err());
    }
}

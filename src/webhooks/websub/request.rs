//! A subscriber's request to the hub: the form fields `hub.mode`, `hub.topic`,
//! `hub.callback`, `hub.lease_seconds` and `hub.secret`, read and checked before anything is
//! stored or sent. Topics are `<public base URL>/practices/<practiceId>/events`, with an
//! optional `types=A,B`.

use crate::domain::validate;
use crate::error::{AppError, AppResult};
use crate::vocab::EventType;

/// Leases the hub grants: asked for within these bounds, or the default.
pub const MIN_LEASE_SECONDS: i64 = 60;
pub const MAX_LEASE_SECONDS: i64 = 30 * 24 * 3600;
pub const DEFAULT_LEASE_SECONDS: i64 = 10 * 24 * 3600;
/// The spec: a secret MUST be less than 200 bytes.
const MAX_SECRET: usize = 199;
const MAX_FIELD: usize = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Subscribe,
    Unsubscribe,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Subscribe => "subscribe",
            Mode::Unsubscribe => "unsubscribe",
        }
    }
}

/// A topic of this hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    /// As the subscriber gave it (the `hub.topic` of the verification and `rel="self"`).
    pub url: String,
    pub practice_id: String,
    /// Empty: every type.
    pub types: Vec<EventType>,
}

#[derive(Clone, Debug)]
pub struct Intent {
    pub mode: Mode,
    pub topic: Topic,
    pub callback: String,
    pub lease_seconds: i64,
    pub secret: Option<String>,
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::bad_input(message)
}

/// Reads a form-encoded request; `base` is the hub's public base URL (`http://host:port`).
pub fn parse_request(body: &[u8], base: &str) -> AppResult<Intent> {
    let (mut mode, mut topic, mut callback, mut lease, mut secret) = (None, None, None, None, None);
    for (name, value) in url::form_urlencoded::parse(body) {
        let slot = match name.as_ref() {
            "hub.mode" => &mut mode,
            "hub.topic" => &mut topic,
            "hub.callback" => &mut callback,
            "hub.lease_seconds" => &mut lease,
            "hub.secret" => &mut secret,
            _ => continue,
        };
        if value.len() > MAX_FIELD || value.contains('\0') {
            return Err(bad(format!("`{name}` is longer than {MAX_FIELD} characters or holds NUL")));
        }
        if slot.replace(value.into_owned()).is_some() {
            return Err(bad(format!("`{name}` is given more than once")));
        }
    }
    let mode = match mode.as_deref() {
        Some("subscribe") => Mode::Subscribe,
        Some("unsubscribe") => Mode::Unsubscribe,
        Some(_) => return Err(bad("`hub.mode` must be `subscribe` or `unsubscribe`")),
        None => return Err(bad("`hub.mode` is required")),
    };
    let topic = topic.ok_or_else(|| bad("`hub.topic` is required"))?;
    let topic = parse_topic(&topic, base)?;
    let callback = callback.filter(|c| !c.trim().is_empty()).ok_or_else(|| bad("`hub.callback` is required"))?;
    let lease_seconds = match lease.as_deref().filter(|l| !l.is_empty()) {
        None => DEFAULT_LEASE_SECONDS,
        Some(text) => {
            text.parse::<i64>().ok().filter(|n| (MIN_LEASE_SECONDS..=MAX_LEASE_SECONDS).contains(n)).ok_or_else(
                || {
                    bad(format!(
                        "`hub.lease_seconds` must be a whole number from {MIN_LEASE_SECONDS} to {MAX_LEASE_SECONDS}"
                    ))
                },
            )?
        }
    };
    let secret = secret.filter(|s| !s.is_empty());
    if secret.as_ref().is_some_and(|s| s.len() > MAX_SECRET) {
        return Err(bad("`hub.secret` must be less than 200 bytes"));
    }
    Ok(Intent { mode, topic, callback, lease_seconds, secret })
}

/// `<base>/practices/<id>/events[?types=A,B]`, and nothing else.
pub fn parse_topic(text: &str, base: &str) -> AppResult<Topic> {
    let not_ours = || bad(format!("`hub.topic` must be {base}/practices/<practiceId>/events, optionally ?types=A,B"));
    let rest = text.strip_prefix(base).ok_or_else(not_ours)?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let practice_id = path.strip_prefix("/practices/").and_then(|p| p.strip_suffix("/events")).ok_or_else(not_ours)?;
    let practice_id = validate::id("practiceId", practice_id).map_err(|_| not_ours())?.to_string();
    if practice_id.contains('/') {
        return Err(not_ours());
    }
    let mut types = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name != "types" || !types.is_empty() {
            return Err(not_ours());
        }
        for name in value.split(',').map(str::trim) {
            let event_type = EventType::parse(name)
                .ok_or_else(|| bad(format!("`hub.topic` names `{name}`, which is not an event type")))?;
            if !types.contains(&event_type) {
                types.push(event_type);
            }
        }
    }
    Ok(Topic { url: text.to_string(), practice_id, types })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://hub.test:8080";

    #[test]
    fn a_subscription_request_is_read() {
        let body = b"hub.mode=subscribe&hub.topic=http%3A%2F%2Fhub.test%3A8080%2Fpractices%2Fprc_1%2Fevents%3Ftypes%3DPAYMENT_POSTED&hub.callback=http%3A%2F%2Fsub.test%2Fcb&hub.lease_seconds=600&hub.secret=s3";
        let intent = parse_request(body, BASE).unwrap();
        assert_eq!(intent.mode, Mode::Subscribe);
        assert_eq!(intent.topic.practice_id, "prc_1");
        assert_eq!(intent.topic.types, vec![EventType::PaymentPosted]);
        assert_eq!((intent.lease_seconds, intent.secret.as_deref()), (600, Some("s3")));
    }

    #[test]
    fn missing_malformed_and_out_of_range_fields_are_refused() {
        let topic = "hub.topic=http%3A%2F%2Fhub.test%3A8080%2Fpractices%2Fp%2Fevents&hub.callback=http%3A%2F%2Fx%2F";
        for bad in [
            "hub.topic=x&hub.callback=y".to_string(),
            format!("hub.mode=watch&{topic}"),
            format!("hub.mode=subscribe&{topic}&hub.lease_seconds=1"),
            format!("hub.mode=subscribe&{topic}&hub.lease_seconds=-5"),
            format!("hub.mode=subscribe&{topic}&hub.lease_seconds=99999999999"),
            format!("hub.mode=subscribe&{topic}&hub.secret={}", "s".repeat(200)),
            format!("hub.mode=subscribe&{topic}&hub.mode=subscribe"),
            "hub.mode=subscribe&hub.callback=http%3A%2F%2Fx%2F".to_string(),
            "hub.mode=subscribe&hub.topic=http%3A%2F%2Fother%2Fpractices%2Fp%2Fevents&hub.callback=c".to_string(),
            format!("hub.mode=subscribe&{}", topic.replace("events", "events%3Fsince%3D1")),
        ] {
            assert!(parse_request(bad.as_bytes(), BASE).is_err(), "{bad}");
        }
        assert!(parse_request(format!("hub.mode=subscribe&{topic}").as_bytes(), BASE).is_ok());
    }
}

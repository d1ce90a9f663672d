//! A long poll's query string: `after` (a cursor), `limit` (events per answer), `wait`
//! (whole seconds to wait for the first event) and `types` (event types, comma-separated).
//! Anything else, a repeated parameter or a value out of range is refused with a message
//! that says which and why; nothing is read or stored for a refused poll.

use std::time::Duration;

use crate::vocab::EventType;

/// Events per answer when `limit` is not given, and the most a poll may ask for.
pub(crate) const DEFAULT_LIMIT: u64 = 100;
pub(crate) const MAX_LIMIT: u64 = 500;
/// Seconds a poll waits when `wait` is not given: under the 30 s idle timeout many proxies
/// and load balancers apply, so a default poll is not cut by one.
pub(crate) const DEFAULT_WAIT_SECS: u64 = 20;
/// The longest wait a poll may ask for.
pub(crate) const MAX_WAIT_SECS: u64 = 60;
/// The longest query string read; a cursor is at most 256 characters, and nine types fit.
const MAX_QUERY_LEN: usize = 2048;

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Params {
    pub after: Option<String>,
    pub limit: u64,
    pub wait: Duration,
    pub types: Option<Vec<EventType>>,
    /// Neither `after` nor `wait` given: the topic's representation — its recent events
    /// (the last `limit` of the log), at once.
    pub recent: bool,
}

/// Reads the query string (None: no `?`). The error is the client's message.
pub(crate) fn parse(query: Option<&str>) -> Result<Params, String> {
    let query = query.unwrap_or("");
    if query.len() > MAX_QUERY_LEN {
        return Err(format!("the query string is longer than {MAX_QUERY_LEN} characters"));
    }
    let (mut after, mut limit, mut wait, mut types) = (None, None, None, None);
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "after" => &mut after,
            "limit" => &mut limit,
            "wait" => &mut wait,
            "types" => &mut types,
            other => return Err(format!("unknown parameter `{}`: use after, limit, wait and types", printable(other))),
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(format!("`{name}` is given more than once"));
        }
    }
    let after = after.filter(|cursor| !cursor.is_empty());
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(text) => whole(&text).filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            format!("`limit` must be a whole number from 1 to {MAX_LIMIT}, not `{}`", printable(&text))
        })?,
    };
    let wait = match wait {
        None => None,
        Some(text) => Some(whole(&text).filter(|n| *n <= MAX_WAIT_SECS).ok_or_else(|| {
            format!("`wait` must be a whole number of seconds from 0 to {MAX_WAIT_SECS}, not `{}`", printable(&text))
        })?),
    };
    let types = types.map(|text| event_types(&text)).transpose()?;
    let recent = after.is_none() && wait.is_none();
    let wait = if recent { 0 } else { wait.unwrap_or(DEFAULT_WAIT_SECS) };
    Ok(Params { after, limit, wait: Duration::from_secs(wait), types, recent })
}

/// `A,B` as event types, each once.
pub(crate) fn event_types(text: &str) -> Result<Vec<EventType>, String> {
    let mut types = Vec::new();
    for name in text.split(',').map(str::trim) {
        let Some(event_type) = EventType::parse(name) else {
            let known: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            return Err(format!("`types` names `{}`, which is not one of {}", printable(name), known.join(", ")));
        };
        if !types.contains(&event_type) {
            types.push(event_type);
        }
    }
    Ok(types)
}

/// Digits only (no sign, no fraction, no spaces), at most 5 of them.
fn whole(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A client's text as a message may quote it: short, and without control characters.
fn printable(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(40).collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let params = parse(None).unwrap();
        let recent = Params { after: None, limit: 100, wait: Duration::ZERO, types: None, recent: true };
        assert_eq!(params, recent, "no cursor and no wait: the recent events, at once");
        let params = parse(Some("after=abc")).unwrap();
        assert_eq!((params.wait, params.recent), (Duration::from_secs(20), false));
        assert_eq!(parse(Some("after=&wait=1")).unwrap().after, None, "an empty cursor is none");
    }

    #[test]
    fn every_parameter_is_read() {
        let params =
            parse(Some("after=abc&limit=7&wait=0&types=PAYMENT_POSTED,PATIENT_CREATED,PAYMENT_POSTED")).unwrap();
        assert_eq!(params.after.as_deref(), Some("abc"));
        assert_eq!((params.limit, params.wait), (7, Duration::ZERO));
        assert_eq!(params.types, Some(vec![EventType::PaymentPosted, EventType::PatientCreated]));
        assert_eq!(parse(Some("wait=60&limit=500")).unwrap().wait, Duration::from_secs(60));
    }

    #[test]
    fn values_out_of_range_or_not_whole_numbers_are_refused() {
        for bad in [
            "wait=-1",
            "wait=10000",
            "wait=61",
            "wait=1.5",
            "wait=",
            "wait=+3",
            "wait=%201",
            "limit=0",
            "limit=501",
            "limit=-5",
            "limit=abc",
            "limit=99999999999999999999",
        ] {
            assert!(parse(Some(bad)).is_err(), "{bad}");
        }
        assert!(parse(Some("wait=-1")).unwrap_err().contains("`wait` must be a whole number of seconds from 0 to 60"));
    }

    #[test]
    fn unknown_repeated_and_oversized_parameters_are_refused() {
        assert!(parse(Some("since=1")).unwrap_err().contains("unknown parameter `since`"));
        assert!(parse(Some("wait=1&wait=2")).unwrap_err().contains("more than once"));
        assert!(parse(Some("types=NOPE")).unwrap_err().contains("`NOPE`"));
        assert!(parse(Some("types=")).is_err());
        assert!(parse(Some(&format!("after={}", "a".repeat(5000)))).unwrap_err().contains("longer than"));
        let hostile = parse(Some("x%00%1b%5B31m=1")).unwrap_err();
        assert!(!hostile.chars().any(char::is_control), "{hostile:?}");
    }
}

//! The practice's event log over HTTP: where churning clients start (`Practice.lastCursor`
//! right before the payments) and what every one of them must have seen by the end (the
//! log read back after that cursor, the same events in the same order as the feeds).

use anyhow::Context;
use serde_json::{Value, json};

use crate::fixture::Http;

const LAST_CURSOR: &str = "query($p: ID!) { practice(id: $p) { lastCursor } }";
const PAGE: &str = "query($p: ID!, $a: String) { events(practiceId: $p, after: $a, first: 200) { \
                    pageInfo { hasNextPage endCursor } nodes { seq } } }";

pub async fn last_cursor(http: &Http, key: &str, practice: &str) -> anyhow::Result<String> {
    let data = http.call(key, LAST_CURSOR, json!({ "p": practice })).await?;
    data["practice"]["lastCursor"].as_str().map(str::to_string).context("practice.lastCursor missing")
}

/// What the log holds after a cursor.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tail {
    pub events: u64,
    /// The last event's seq (0 when the tail is empty).
    pub last_seq: u64,
}

/// Reads the whole log after `cursor`, 200 events a page.
pub async fn tail(http: &Http, key: &str, practice: &str, cursor: &str) -> anyhow::Result<Tail> {
    let mut tail = Tail::default();
    let mut after = cursor.to_string();
    loop {
        let data = http.call(key, PAGE, json!({ "p": practice, "a": after })).await?;
        let page = &data["events"];
        for node in page["nodes"].as_array().context("events.nodes missing")? {
            tail.events += 1;
            tail.last_seq = node["seq"].as_u64().context("events.nodes.seq missing")?;
        }
        match (&page["pageInfo"]["hasNextPage"], &page["pageInfo"]["endCursor"]) {
            (Value::Bool(true), Value::String(end)) => after = end.clone(),
            _ => return Ok(tail),
        }
    }
}

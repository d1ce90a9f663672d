//! Usage metering and the access audit trail: exact totals across replicas and
//! a restart, audit rows for every door, and the bad input both queries refuse.

mod audit;
mod bad_input;
mod own_runs;
mod person;
mod retention;
mod usage;

use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::{ADMIN_KEY, TestApp};

/// Fast flushes, so tests wait little.
pub fn fast_flush(config: &mut clinicstream::Config) {
    config.metering.usage_flush_ms = 100;
}

pub const USAGE: &str = "query($p: ID!, $f: DateTime!, $t: DateTime!, $k: ID) {
  usage(practiceId: $p, from: $f, to: $t, apiKeyId: $k) {
    practiceId apiKeyId operations queries mutations subscriptions deliveries
    deliveriesByTransport { transport count } deliveriesByEventType { eventType count }
    peakConnections peakSubscriptions
    buckets { hour operations queries mutations subscriptions deliveries deliveriesByTransport { transport count } peakConnections peakSubscriptions }
  }
}";

pub const AUDIT: &str = "query($p: ID!, $pt: ID, $s: String, $f: DateTime, $t: DateTime, $n: Int, $a: String) {
  auditLog(practiceId: $p, patientId: $pt, subject: $s, from: $f, to: $t, first: $n, after: $a) {
    edges { cursor node { id at apiKeyId subject actorName role operationName transport action patientIds filter deliveries } }
    pageInfo { hasNextPage }
  }
}";

/// The practice's usage over the last and next day, read with the bootstrap ADMIN_KEY
/// (whose reads of no patient are not metered themselves).
pub async fn usage(app: &TestApp, practice: &str) -> Value {
    let now = chrono::Utc::now();
    let (from, to) = (now - chrono::Duration::days(1), now + chrono::Duration::days(1));
    app.ok(ADMIN_KEY, USAGE, json!({ "p": practice, "f": from, "t": to })).await["usage"].clone()
}

/// Polls `usage` until `done` holds; panics with the last answer after 15 s.
pub async fn usage_until(app: &TestApp, practice: &str, done: impl Fn(&Value) -> bool) -> Value {
    let seen = crate::helpers::eventually(Duration::from_secs(15), async || usage(app, practice).await, done).await;
    seen.unwrap_or_else(|usage| panic!("usage never got there: {usage:#}"))
}

/// Every audit row of the practice (newest first), read page by page as `key`.
pub async fn audit_log(app: &TestApp, key: &str, practice: &str, patient: Option<&str>) -> Vec<Value> {
    audit_where(app, key, practice, json!({ "pt": patient })).await
}

/// The audit rows of the practice that `criteria` (`pt`, `s`, `f`, `t`) select, newest
/// first, read page by page as `key`.
pub async fn audit_where(app: &TestApp, key: &str, practice: &str, criteria: Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut vars = criteria.clone();
        vars["p"] = json!(practice);
        vars["n"] = json!(7);
        vars["a"] = json!(after);
        let data = app.ok(key, AUDIT, vars).await;
        let edges = data["auditLog"]["edges"].as_array().unwrap().clone();
        for edge in &edges {
            out.push(edge["node"].clone());
            after = Some(edge["cursor"].as_str().unwrap().to_string());
        }
        if !data["auditLog"]["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            return out;
        }
    }
}

/// Polls the audit log until `done` holds; panics with the rows after 15 s.
pub async fn audit_until(app: &TestApp, practice: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let read = async || audit_log(app, ADMIN_KEY, practice, None).await;
    let seen = crate::helpers::eventually(Duration::from_secs(15), read, |rows| done(rows)).await;
    seen.unwrap_or_else(|rows| panic!("the audit log never got there: {rows:#?}"))
}

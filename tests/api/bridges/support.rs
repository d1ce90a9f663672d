//! What the bridge tests share: settings for a test app, writing events, the expected
//! seqs per practice, and the `bridges` query.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

use crate::helpers::{ADMIN_KEY, TestApp};

/// Quick polls and leases, so tests take seconds, not minutes.
pub fn fast(config: &mut clinicstream::Config) {
    config.bridges.poll = Duration::from_millis(100);
    config.bridges.lease = Duration::from_secs(3);
    config.bridges.backoff_max = Duration::from_secs(1);
    config.bridges.ack_timeout = Duration::from_secs(3);
}

/// Posts `n` payments to the patient, each must succeed.
pub async fn pay(app: &TestApp, key: &str, patient: &str, n: usize) {
    for i in 0..n {
        let body = app.post_payment(key, patient, 100 + i as i64).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
}

/// The seqs of the practices' logs, optionally only of some types.
pub async fn expected(app: &TestApp, practices: &[&str], only: Option<&str>) -> HashMap<String, Vec<i64>> {
    let mut out = HashMap::new();
    for practice in practices {
        let seqs = app.log(practice).await.into_iter().filter(|(_, t)| only.is_none_or(|o| o == t)).map(|(s, _)| s);
        out.insert(practice.to_string(), seqs.collect());
    }
    out
}

pub fn total(expected: &HashMap<String, Vec<i64>>) -> usize {
    expected.values().map(Vec::len).sum()
}

/// The `bridges` query as the admin sees it.
pub async fn bridges(app: &TestApp) -> Vec<Value> {
    let data = app
        .ok(
            ADMIN_KEY,
            "{ bridges { kind destination eventTypes thinPayload state lag practicesBehind practicesHeld published failures lastError lastErrorAt } }",
            json!({}),
        )
        .await;
    data["bridges"].as_array().unwrap().clone()
}

pub async fn bridge(app: &TestApp, kind: &str) -> Value {
    bridges(app).await.into_iter().find(|b| b["kind"] == kind).unwrap_or_else(|| panic!("no {kind} bridge"))
}

/// Waits until the `kind` bridge's status satisfies `done`; returns it either way.
pub async fn bridge_until(app: &TestApp, kind: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    crate::helpers::eventually(within, async || bridge(app, kind).await, done).await.unwrap_or_else(|status| status)
}

/// Removes a test's stream from a shared NATS.
pub async fn delete_stream(url: &str, stream: &str) {
    if let Ok(client) = async_nats::connect(url).await {
        let _ = async_nats::jetstream::new(client).delete_stream(stream).await;
    }
}

/// Removes a test's exchange from the shared RabbitMQ.
pub async fn delete_exchange(url: &str, exchange: &str) {
    if let Ok(connection) = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await
        && let Ok(channel) = connection.create_channel().await
    {
        let _ = channel.exchange_delete(exchange.into(), Default::default()).await;
    }
}

/// `/readyz` answers 200.
pub async fn ready(app: &TestApp) -> bool {
    app.http().get(app.url("/readyz")).send().await.is_ok_and(|r| r.status() == 200)
}

//! What the webhook tests share: fast settings, and the GraphQL calls they make.

use clinicstream::Config;
use clinicstream::webhooks::Allowlist;
use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::TestApp;

/// Private destinations allowed (the receiver is on 127.0.0.1), millisecond retries, a
/// quick poll.
pub fn fast(config: &mut Config) {
    config.webhooks.allow_private = Allowlist::any();
    config.webhooks.retry_schedule = "50ms,50ms,50ms,50ms".parse().unwrap();
    config.webhooks.poll = Duration::from_millis(20);
    config.webhooks.timeout = Duration::from_secs(5);
}

pub const CREATE: &str = "mutation($p: ID!, $u: String!, $t: [EventType!], $d: String, $k: String) {
  createWebhookEndpoint(input: {practiceId: $p, url: $u, eventTypes: $t, description: $d, idempotencyKey: $k}) {
    secret endpoint { id url eventTypes enabled }
  }
}";

pub const DELIVERIES: &str = "query($e: ID!, $s: WebhookDeliveryStatus, $a: String) {
  webhookDeliveries(endpointId: $e, status: $s, first: 200, after: $a) {
    edges { cursor node { id webhookId seq eventType status attemptCount lastStatusCode lastError deliveredAt
      attempts { number statusCode latencyMs error attemptedAt } } }
    pageInfo { hasNextPage }
  }
}";

/// Creates an endpoint as `key`; returns (id, secret).
pub async fn create_endpoint(app: &TestApp, key: &str, practice: &str, url: &str, types: Value) -> (String, String) {
    let data = app.ok(key, CREATE, json!({ "p": practice, "u": url, "t": types })).await;
    let created = &data["createWebhookEndpoint"];
    (created["endpoint"]["id"].as_str().unwrap().to_string(), created["secret"].as_str().unwrap().to_string())
}

/// Every delivery of the endpoint, in seq order.
pub async fn deliveries(app: &TestApp, key: &str, endpoint: &str) -> Vec<Value> {
    let data = app.ok(key, DELIVERIES, json!({ "e": endpoint })).await;
    data["webhookDeliveries"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

/// Polls the endpoint's deliveries until `done` holds (or panics after `within`).
pub async fn wait_deliveries(
    app: &TestApp,
    key: &str,
    endpoint: &str,
    within: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let list = crate::helpers::eventually(within, async || deliveries(app, key, endpoint).await, |l| done(l)).await;
    list.unwrap_or_else(|list| panic!("timed out waiting for deliveries: {list:#?}"))
}

/// Posts `n` one-cent payments as `key`.
pub async fn pay(app: &TestApp, key: &str, patient: &str, n: usize) {
    for _ in 0..n {
        let body = app.post_payment(key, patient, 1).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
}

pub fn seqs(requests: &[super::receiver::Received]) -> Vec<i64> {
    requests.iter().map(|r| r.seq()).collect()
}

/// Declares a test per backend, `name::sqlite` and `name::postgres`, each running the async
/// fn `name(app: TestApp)` of the enclosing module on an app whose settings `adjust` set.
#[macro_export]
macro_rules! webhook_tests {
    ($adjust:ident => $($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::{Backend, spawn_app_with};

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = spawn_app_with(Backend::Sqlite, super::$adjust).await {
                        super::$name(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = spawn_app_with(Backend::Postgres, super::$adjust).await {
                        super::$name(app).await;
                    }
                }
            }
        )+
    };
}

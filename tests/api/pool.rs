//! The pool never waits on itself: code that holds a connection (a transaction) asks
//! the pool for no other. On SQLite's one connection such a wait lasts the whole acquire
//! timeout (30 s by default) and stalls every other request, the webhook dispatcher and
//! the reminder scheduler with it; the tests' short `DB_ACQUIRE_TIMEOUT` makes it show.

use serde_json::json;
use std::time::{Duration, Instant};

use crate::helpers::{ACQUIRE_TIMEOUT, ADMIN_KEY, Backend, TestApp, code, spawn_app_with};

/// Declares `name::sqlite` and `name::postgres`, each running `name(app)` on an app whose
/// webhooks may target this machine (the tests' receivers).
macro_rules! on_both_backends_with_local_webhooks {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = local_webhooks(Backend::Sqlite).await {
                        super::$name(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = local_webhooks(Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            }
        )+
    };
}

async fn local_webhooks(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |c| c.webhooks.allow_private = clinicstream::webhooks::Allowlist::any()).await
}

on_both_backends_with_local_webhooks!(
    creating_a_webhook_endpoint_reads_the_quota_without_waiting_on_its_own_transaction
);

const CREATE_ENDPOINT: &str = "mutation($p: ID!) { createWebhookEndpoint(input: {practiceId: $p, url: \"http://127.0.0.1:9/hooks\"}) { endpoint { id } } }";

/// Well under the acquire timeout: a mutation that waited on its own connection took it all.
fn quick() -> Duration {
    ACQUIRE_TIMEOUT / 2
}

async fn creating_a_webhook_endpoint_reads_the_quota_without_waiting_on_its_own_transaction(app: TestApp) {
    let f = app.fixture().await;
    // A quota set just now: the endpoint check reads it from the database, not the cache.
    let set = app
        .gql(
            Some(ADMIN_KEY),
            "mutation($p: ID!) { setPracticeQuota(input: {practiceId: $p, maxWebhookEndpoints: 1}) { maxWebhookEndpoints } }",
            json!({ "p": f.practice }),
        )
        .await;
    assert_eq!(set["data"]["setPracticeQuota"]["maxWebhookEndpoints"], 1, "{set}");
    let started = Instant::now();
    let first = app.gql(Some(&f.backoffice), CREATE_ENDPOINT, json!({ "p": f.practice })).await;
    let took = started.elapsed();
    assert!(first["errors"].is_null(), "the first endpoint fits the quota: {first}");
    assert!(took < quick(), "created in {took:?}: it waited on the pool it held ({ACQUIRE_TIMEOUT:?} timeout)");
    let started = Instant::now();
    // Over HTTP a refusal by quota is a 429 (with the GraphQL body).
    let request = json!({ "query": CREATE_ENDPOINT, "variables": { "p": f.practice } });
    let response = app.http().post(app.url("/graphql")).bearer_auth(&f.backoffice).json(&request).send().await;
    let second: serde_json::Value = response.expect("request sent").json().await.expect("JSON body");
    let took = started.elapsed();
    assert_eq!(code(&second), "QUOTA_EXCEEDED", "the quota read really happened: {second}");
    assert!(took < quick(), "refused in {took:?}: it waited on the pool it held");
    // Meanwhile nothing else was held up: a read answers at once.
    let started = Instant::now();
    app.ok(&f.subscriber, "query($p: ID!) { practice(id: $p) { id } }", json!({ "p": f.practice })).await;
    assert!(started.elapsed() < quick());
}

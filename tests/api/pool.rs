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

/// Under the acquire timeout: a mutation that waited on its own connection took all of
/// it (then failed, or went on without what it read); a busy machine's slowness is far
/// below this.
fn quick() -> Duration {
    ACQUIRE_TIMEOUT * 9 / 10
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

on_both_backends_with_local_webhooks!(every_mutation_and_its_replay_answer_well_within_the_acquire_timeout);

/// Runs `query` as `key` with idempotency key `$k`, then again (a replay): each must
/// succeed well within the acquire timeout, with a quota just changed so that every quota
/// read on the way goes to the database. Returns the first answer's data.
async fn step(app: &TestApp, practice: &str, key: &str, query: &str, mut vars: serde_json::Value) -> serde_json::Value {
    let set = "mutation($p: ID!) { setPracticeQuota(input: {practiceId: $p, maxWebhookEndpoints: 10, maxMutationsPerMinute: 10000, maxDeliveriesPerDay: 100000}) { maxWebhookEndpoints } }";
    app.ok(ADMIN_KEY, set, json!({ "p": practice })).await;
    vars["k"] = json!(uuid::Uuid::now_v7().to_string());
    let started = Instant::now();
    let first = app.ok(key, query, vars.clone()).await;
    let took = started.elapsed();
    assert!(took < quick(), "{took:?} for {query}: it waited on the pool it held");
    app.ok(ADMIN_KEY, set, json!({ "p": practice })).await;
    let started = Instant::now();
    let replayed = app.ok(key, query, vars).await;
    let took = started.elapsed();
    assert!(took < quick(), "{took:?} for the replay of {query}");
    let id = |d: &serde_json::Value| d.as_object().and_then(|o| o.values().next()).map(|v| v["id"].clone());
    assert_eq!(id(&replayed), id(&first), "a replay answers the first result: {query}");
    first
}

fn id_of(data: &serde_json::Value, path: &[&str]) -> String {
    path.iter().fold(data, |v, p| &v[*p]).as_str().unwrap_or_else(|| panic!("{path:?} in {data}")).to_string()
}

async fn every_mutation_and_its_replay_answer_well_within_the_acquire_timeout(app: TestApp) {
    use crate::webhooks::receiver::Receiver;
    let receiver = Receiver::start().await;
    let f = app.fixture().await;
    let (p, bo, admin) = (f.practice.as_str(), f.backoffice.as_str(), f.practice_admin.as_str());
    let soon = |days: i64| (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();
    let q = "mutation($k: String) { createPractice(input: {name: \"Another\", timezone: \"UTC\", currency: \"EUR\", idempotencyKey: $k}) { id } }";
    step(&app, p, ADMIN_KEY, q, json!({})).await;
    let q = "mutation($p: ID!, $k: String) { createProvider(input: {practiceId: $p, name: \"Dr. B\", kind: DENTIST, idempotencyKey: $k}) { id } }";
    let provider = id_of(&step(&app, p, bo, q, json!({ "p": p })).await, &["createProvider", "id"]);
    let q = "mutation($p: ID!, $k: String) { createPatient(input: {practiceId: $p, firstName: \"A\", lastName: \"B\", idempotencyKey: $k}) { id } }";
    let patient = id_of(&step(&app, p, bo, q, json!({ "p": p })).await, &["createPatient", "id"]);
    let q = "mutation($id: ID!, $k: String) { updatePatient(input: {id: $id, firstName: \"C\", idempotencyKey: $k}) { id } }";
    step(&app, p, bo, q, json!({ "id": patient })).await;
    let q = "mutation($pt: ID!, $pr: ID!, $s: DateTime!, $k: String) { scheduleAppointment(input: {patientId: $pt, providerId: $pr, startsAt: $s, durationMinutes: 30, idempotencyKey: $k}) { id } }";
    let vars = |days| json!({ "pt": patient, "pr": provider, "s": soon(days) });
    let first = id_of(&step(&app, p, bo, q, vars(2)).await, &["scheduleAppointment", "id"]);
    let second = id_of(&step(&app, p, bo, q, vars(4)).await, &["scheduleAppointment", "id"]);
    let q = "mutation($id: ID!, $s: DateTime!, $k: String) { rescheduleAppointment(input: {id: $id, startsAt: $s, idempotencyKey: $k}) { id } }";
    step(&app, p, bo, q, json!({ "id": first, "s": soon(3) })).await;
    let q = "mutation($id: ID!, $k: String) { cancelAppointment(input: {id: $id, reason: \"ill\", idempotencyKey: $k}) { id } }";
    step(&app, p, bo, q, json!({ "id": second })).await;
    let q = "mutation($id: ID!, $k: String) { completeAppointment(input: {id: $id, idempotencyKey: $k}) { id } }";
    step(&app, p, bo, q, json!({ "id": first })).await;
    let q = "mutation($pt: ID!, $a: ID, $k: String) { postCharge(input: {patientId: $pt, amountCents: 500, description: \"Exam\", appointmentId: $a, idempotencyKey: $k}) { id } }";
    step(&app, p, bo, q, json!({ "pt": patient, "a": first })).await;
    let q = "mutation($pt: ID!, $k: String) { postPayment(input: {patientId: $pt, amountCents: 500, method: CARD, idempotencyKey: $k}) { id } }";
    step(&app, p, bo, q, json!({ "pt": patient })).await;
    let q = "mutation($p: ID!, $k: String) { createApiKey(input: {practiceId: $p, role: SUBSCRIBER, name: \"n\", idempotencyKey: $k}) { apiKey { id } } }";
    let key = id_of(&step(&app, p, admin, q, json!({ "p": p })).await, &["createApiKey", "apiKey", "id"]);
    let q = "mutation($id: ID!, $k: String) { revokeApiKey(input: {id: $id, idempotencyKey: $k}) { id } }";
    step(&app, p, admin, q, json!({ "id": key })).await;
    let q = "mutation($p: ID!, $u: String!, $k: String) { createWebhookEndpoint(input: {practiceId: $p, url: $u, idempotencyKey: $k}) { endpoint { id } } }";
    let vars = json!({ "p": p, "u": receiver.url("/hooks") });
    let endpoint = id_of(&step(&app, p, bo, q, vars).await, &["createWebhookEndpoint", "endpoint", "id"]);
    let q = "mutation($id: ID!, $k: String) { updateWebhookEndpoint(input: {id: $id, description: \"d\", idempotencyKey: $k}) { id } }";
    step(&app, p, bo, q, json!({ "id": endpoint })).await;
    let q = "mutation($id: ID!, $k: String) { rotateWebhookSecret(input: {id: $id, graceSeconds: 60, idempotencyKey: $k}) { endpoint { id } } }";
    step(&app, p, bo, q, json!({ "id": endpoint })).await;
    let q =
        "mutation($id: ID!, $k: String) { replayWebhooks(input: {endpointId: $id, idempotencyKey: $k}) { queued } }";
    step(&app, p, bo, q, json!({ "id": endpoint })).await;
    // The dispatcher and the sender deliver what was queued, well within the timeout too.
    receiver.wait_for(quick(), |got| !got.is_empty()).await;
    let delivery =
        crate::webhooks::support::deliveries(&app, bo, &endpoint).await[0]["id"].as_str().unwrap().to_string();
    let q = "mutation($id: ID!, $k: String) { redeliverWebhook(input: {deliveryId: $id, idempotencyKey: $k}) { id } }";
    step(&app, p, bo, q, json!({ "id": delivery })).await;
    let q = "mutation($id: ID!, $k: String) { deleteWebhookEndpoint(input: {id: $id, idempotencyKey: $k}) { id } }";
    step(&app, p, bo, q, json!({ "id": endpoint })).await;
}

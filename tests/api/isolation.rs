//! The tenant isolation matrix: every query, mutation and subscription of the schema
//! (enumerated from the schema itself, so a new operation without a case fails this
//! test), for every role of practice A, against practice B's resources → an error with
//! the documented code, no B data, nothing changed in B, no event appended to B.

use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::helpers::{Backend, Fixture, TestApp, spawn_app_with};
use crate::ws_client::{TRANSPORT_WS, WsClient};

mod no_operation_lets_one_practice_reach_another {
    use super::*;

    async fn run(backend: Backend) {
        // Webhooks to loopback are allowed so B can have an endpoint (on a closed port).
        let allow = |c: &mut clinicstream::Config| c.webhooks.allow_private = clinicstream::webhooks::Allowlist::any();
        if let Some(app) = spawn_app_with(backend, allow).await {
            super::no_operation_lets_one_practice_reach_another(app).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(Backend::Postgres).await;
    }
}

/// B's resources that A must never see or touch.
struct Targets {
    appointment: String,
    key_id: String,
    endpoint: String,
    delivery: String,
}

/// One operation aimed at practice B: its document and variables.
type Case = (String, Value);

fn cases(b: &Fixture, t: &Targets) -> BTreeMap<&'static str, Case> {
    let (p, pt, pr) = (&b.practice, &b.patient, &b.provider);
    let (appointment, key_id, endpoint, delivery) = (&t.appointment, &t.key_id, &t.endpoint, &t.delivery);
    let case = |doc: &str, vars: Value| (doc.to_string(), vars);
    BTreeMap::from([
        // Queries
        ("practices", case("{ practices { edges { node { id name } } } }", json!({}))),
        ("practice", case("query($id: ID!) { practice(id: $id) { id name } }", json!({ "id": p }))),
        ("provider", case("query($id: ID!) { provider(id: $id) { id name } }", json!({ "id": pr }))),
        ("providers", case("query($id: ID!) { providers(practiceId: $id) { id name } }", json!({ "id": p }))),
        ("patient", case("query($id: ID!) { patient(id: $id) { id firstName } }", json!({ "id": pt }))),
        (
            "patients",
            case(
                "query($id: ID!) { patients(practiceId: $id) { edges { node { id firstName } } } }",
                json!({ "id": p }),
            ),
        ),
        (
            "appointment",
            case("query($id: ID!) { appointment(id: $id) { id patient { firstName } } }", json!({ "id": appointment })),
        ),
        (
            "appointments",
            case("query($id: ID!) { appointments(practiceId: $id) { edges { node { id } } } }", json!({ "id": p })),
        ),
        (
            "payments",
            case("query($id: ID!) { payments(patientId: $id) { edges { node { id } } } }", json!({ "id": pt })),
        ),
        (
            "events",
            case(
                "query($id: ID!) { events(practiceId: $id) { edges { node { seq ... on PatientEvent { patient { firstName } } } } } }",
                json!({ "id": p }),
            ),
        ),
        ("apiKeys", case("query($id: ID!) { apiKeys(practiceId: $id) { id } }", json!({ "id": p }))),
        // Deployment-wide, global ADMIN keys only: a practice's keys get FORBIDDEN.
        ("bridges", case("{ bridges { kind destination lag lastError } }", json!({}))),
        ("commandConsumers", case("{ commandConsumers { broker source state applied lastError } }", json!({}))),
        (
            "usage",
            case(
                "query($id: ID!) { usage(practiceId: $id, from: \"2026-01-01T00:00:00Z\", to: \"2026-06-01T00:00:00Z\") { practiceId operations } }",
                json!({ "id": p }),
            ),
        ),
        (
            "auditLog",
            case(
                "query($id: ID!) { auditLog(practiceId: $id) { edges { node { id patientIds } } } }",
                json!({ "id": p }),
            ),
        ),
        (
            "webhookEndpoints",
            case("query($id: ID!) { webhookEndpoints(practiceId: $id) { id url } }", json!({ "id": p })),
        ),
        (
            "websubSubscriptions",
            case("query($id: ID!) { websubSubscriptions(practiceId: $id) { id callback } }", json!({ "id": p })),
        ),
        (
            "webhookDeliveries",
            case(
                "query($id: ID!) { webhookDeliveries(endpointId: $id) { edges { node { id } } } }",
                json!({ "id": endpoint }),
            ),
        ),
        // Mutations
        (
            "createPractice",
            case(
                "mutation { createPractice(input: {name: \"X\", timezone: \"UTC\", currency: \"USD\"}) { id } }",
                json!({}),
            ),
        ),
        (
            "createProvider",
            case(
                "mutation($id: ID!) { createProvider(input: {practiceId: $id, name: \"X\", kind: DENTIST}) { id } }",
                json!({ "id": p }),
            ),
        ),
        (
            "createPatient",
            case(
                "mutation($id: ID!) { createPatient(input: {practiceId: $id, firstName: \"X\", lastName: \"Y\"}) { id } }",
                json!({ "id": p }),
            ),
        ),
        (
            "updatePatient",
            case(
                "mutation($id: ID!) { updatePatient(input: {id: $id, firstName: \"Hacked\"}) { id } }",
                json!({ "id": pt }),
            ),
        ),
        (
            "scheduleAppointment",
            case(
                "mutation($pt: ID!, $pr: ID!) { scheduleAppointment(input: {patientId: $pt, providerId: $pr, startsAt: \"2031-01-01T09:00:00Z\", durationMinutes: 30}) { id } }",
                json!({ "pt": pt, "pr": pr }),
            ),
        ),
        (
            "rescheduleAppointment",
            case(
                "mutation($id: ID!) { rescheduleAppointment(input: {id: $id, startsAt: \"2031-02-01T09:00:00Z\"}) { id } }",
                json!({ "id": appointment }),
            ),
        ),
        (
            "cancelAppointment",
            case("mutation($id: ID!) { cancelAppointment(input: {id: $id}) { id } }", json!({ "id": appointment })),
        ),
        (
            "completeAppointment",
            case("mutation($id: ID!) { completeAppointment(input: {id: $id}) { id } }", json!({ "id": appointment })),
        ),
        (
            "postCharge",
            case(
                "mutation($id: ID!) { postCharge(input: {patientId: $id, amountCents: 100, description: \"X\"}) { id } }",
                json!({ "id": pt }),
            ),
        ),
        (
            "postPayment",
            case(
                "mutation($id: ID!) { postPayment(input: {patientId: $id, amountCents: 100, method: CASH}) { id } }",
                json!({ "id": pt }),
            ),
        ),
        (
            "createApiKey",
            case(
                "mutation($id: ID!) { createApiKey(input: {practiceId: $id, role: ADMIN, name: \"X\"}) { key } }",
                json!({ "id": p }),
            ),
        ),
        (
            "setPracticeQuota",
            case(
                "mutation($id: ID!) { setPracticeQuota(input: {practiceId: $id, maxConnections: 1}) { maxConnections } }",
                json!({ "id": p }),
            ),
        ),
        ("revokeApiKey", case("mutation($id: ID!) { revokeApiKey(input: {id: $id}) { id } }", json!({ "id": key_id }))),
        (
            "refreshCredentials",
            case("mutation($k: String!) { refreshCredentials(key: $k) }", json!({ "k": b.subscriber })),
        ),
        (
            "createWebhookEndpoint",
            case(
                "mutation($id: ID!) { createWebhookEndpoint(input: {practiceId: $id, url: \"http://127.0.0.1:9/a\"}) { secret } }",
                json!({ "id": p }),
            ),
        ),
        (
            "updateWebhookEndpoint",
            case(
                "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, description: \"hijacked\"}) { id } }",
                json!({ "id": endpoint }),
            ),
        ),
        (
            "rotateWebhookSecret",
            case("mutation($id: ID!) { rotateWebhookSecret(input: {id: $id}) { secret } }", json!({ "id": endpoint })),
        ),
        (
            "deleteWebhookEndpoint",
            case("mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { id } }", json!({ "id": endpoint })),
        ),
        (
            "redeliverWebhook",
            case("mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) { id } }", json!({ "id": delivery })),
        ),
        (
            "replayWebhooks",
            case(
                "mutation($id: ID!) { replayWebhooks(input: {endpointId: $id}) { __typename } }",
                json!({ "id": endpoint }),
            ),
        ),
        // Subscriptions
        ("events:subscription", case("subscription($id: ID!) { events(practiceId: $id) { seq } }", json!({ "id": p }))),
        (
            "appointmentScheduled",
            case("subscription($id: ID!) { appointmentScheduled(practiceId: $id) { seq } }", json!({ "id": p })),
        ),
        (
            "appointmentRescheduled",
            case("subscription($id: ID!) { appointmentRescheduled(practiceId: $id) { seq } }", json!({ "id": p })),
        ),
        (
            "appointmentCancelled",
            case("subscription($id: ID!) { appointmentCancelled(practiceId: $id) { seq } }", json!({ "id": p })),
        ),
        (
            "appointmentStartingSoon",
            case("subscription($id: ID!) { appointmentStartingSoon(practiceId: $id) { seq } }", json!({ "id": p })),
        ),
        (
            "patientCreated",
            case("subscription($id: ID!) { patientCreated(practiceId: $id) { seq } }", json!({ "id": p })),
        ),
        (
            "paymentPosted",
            case("subscription($id: ID!) { paymentPosted(practiceId: $id) { seq } }", json!({ "id": p })),
        ),
    ])
}

/// The operations the schema serves, named as in `cases` (subscriptions that share a
/// query's name get a `:subscription` suffix).
pub(crate) async fn operations(app: &TestApp) -> Vec<(String, &'static str)> {
    let schema = app
        .admin("{ __schema { queryType { fields { name } } mutationType { fields { name } } subscriptionType { fields { name } } } }", json!({}))
        .await;
    let mut out = Vec::new();
    for (root, kind) in [("queryType", "query"), ("mutationType", "mutation"), ("subscriptionType", "subscription")] {
        for field in schema["data"]["__schema"][root]["fields"].as_array().unwrap() {
            let name = field["name"].as_str().unwrap().to_string();
            let name = if kind == "subscription" && name == "events" { format!("{name}:subscription") } else { name };
            out.push((name, kind));
        }
    }
    out
}

/// B's state as seen by its own admin: the log, the patient and the keys.
async fn snapshot_of(app: &TestApp, b: &Fixture) -> Value {
    let patient =
        app.admin("query($id: ID!) { patient(id: $id) { firstName balanceCents } }", json!({ "id": b.patient })).await;
    let keys =
        app.admin("query($id: ID!) { apiKeys(practiceId: $id) { id revokedAt } }", json!({ "id": b.practice })).await;
    let appointments = app
        .admin(
            "query($id: ID!) { appointments(practiceId: $id) { edges { node { id status startsAt } } } }",
            json!({ "id": b.practice }),
        )
        .await;
    let practices = app.admin("{ practices { edges { node { id } } } }", json!({})).await;
    let endpoints = app
        .admin(
            "query($id: ID!) { webhookEndpoints(practiceId: $id) { id url description } }",
            json!({ "id": b.practice }),
        )
        .await;
    json!({
        "log": app.log(&b.practice).await,
        "patient": patient,
        "keys": keys,
        "appointments": appointments,
        "practices": practices,
        "endpoints": endpoints
    })
}

async fn no_operation_lets_one_practice_reach_another(app: TestApp) {
    let a = app.fixture().await;
    let b = app.fixture().await;
    let appointment = app
        .ok(&b.backoffice, "mutation($pt: ID!, $pr: ID!) { scheduleAppointment(input: {patientId: $pt, providerId: $pr, startsAt: \"2031-01-01T10:00:00Z\", durationMinutes: 30}) { id } }", json!({ "pt": b.patient, "pr": b.provider }))
        .await["scheduleAppointment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let keys = app.admin("query($id: ID!) { apiKeys(practiceId: $id) { id } }", json!({ "id": b.practice })).await;
    let key_id = keys["data"]["apiKeys"][0]["id"].as_str().unwrap().to_string();
    let endpoint = app
        .ok(&b.backoffice, "mutation($id: ID!) { createWebhookEndpoint(input: {practiceId: $id, url: \"http://127.0.0.1:9/hook\"}) { endpoint { id } } }", json!({ "id": b.practice }))
        .await["createWebhookEndpoint"]["endpoint"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post_payment(&b.backoffice, &b.patient, 1).await;
    let first_delivery = async || {
        let found = app
            .ok(
                &b.backoffice,
                "query($id: ID!) { webhookDeliveries(endpointId: $id) { edges { node { id } } } }",
                json!({ "id": endpoint }),
            )
            .await;
        found["webhookDeliveries"]["edges"][0]["node"]["id"].as_str().unwrap_or_default().to_string()
    };
    let within = std::time::Duration::from_secs(5);
    let delivery = crate::helpers::eventually(within, first_delivery, |id| !id.is_empty()).await.unwrap_or_default();
    assert!(!delivery.is_empty(), "B's endpoint got a delivery");
    let targets = Targets { appointment, key_id, endpoint, delivery };
    let cases = cases(&b, &targets);
    let before = snapshot_of(&app, &b).await;
    let b_secrets = [
        b.practice.as_str(),
        b.patient.as_str(),
        b.provider.as_str(),
        targets.appointment.as_str(),
        targets.key_id.as_str(),
        targets.endpoint.as_str(),
        targets.delivery.as_str(),
    ];
    let mut checked = 0;
    for (name, kind) in operations(&app).await {
        let (document, variables) =
            cases.get(name.as_str()).unwrap_or_else(|| panic!("no isolation case for the {kind} `{name}`: add one"));
        for (role, key) in [("ADMIN", &a.practice_admin), ("BACKOFFICE", &a.backoffice), ("SUBSCRIBER", &a.subscriber)]
        {
            let body = if kind == "subscription" {
                let mut client = WsClient::connect(app.addr, TRANSPORT_WS, key).await;
                client.subscribe("x", document, variables.clone()).await;
                let answer = client.recv().await.expect("an answer");
                answer["payload"].clone()
            } else {
                app.gql(Some(key), document, variables.clone()).await
            };
            let text = body.to_string();
            assert!(!b_secrets.iter().any(|s| text.contains(s)), "{role} `{name}` revealed B's data: {text}");
            if name == "practices" {
                // Not an error: a scoped key lists its own practice only.
                assert!(text.contains(&a.practice), "{text}");
            } else {
                let codes: Vec<&str> = body["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["extensions"]["code"].as_str())
                    .collect();
                assert!(
                    matches!(codes.as_slice(), ["NOT_FOUND"] | ["FORBIDDEN"]),
                    "{role} `{name}` must answer NOT_FOUND or FORBIDDEN: {text}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(snapshot_of(&app, &b).await, before, "nothing of B changed and nothing was appended to its log");
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "isolation matrix: {checked} operation × role cases");
}

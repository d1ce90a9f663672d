//! The PATIENT scope's isolation matrix: every query, mutation and subscription of the
//! schema (enumerated from the schema itself, so a new operation without a case fails
//! this test), for a PATIENT token from the real OpenID Provider, aimed at the patient's
//! own records, at another patient of the same practice and at another practice — over
//! HTTP, as a live query and over websockets and SSE — counting leaks: another patient's
//! or practice's data in an answer, a practice-level record shown, an answer that should
//! have been refused and was not, anything of anyone else changed. There must be none.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

use clinicstream::events::Cursor;

use crate::helpers::{Backend, Fixture, TestApp, spawn_app_with};
use crate::oidc::{Account, DEFAULT_AUDIENCE, Issuer, IssuerOptions};
use crate::sse_client::{SseStream, post as sse_post};
use crate::ws_client::{TRANSPORT_WS, WsClient};

/// How long a stream must stay quiet before its answer is taken as complete.
const QUIET: Duration = Duration::from_millis(400);
/// How long a stream's first answer may take (a subscription with nothing to replay sends none).
const FIRST: Duration = Duration::from_secs(3);

pub(super) const SCHEDULE: &str = "mutation($pt: ID!, $pr: ID!, $at: DateTime!, $r: String) { scheduleAppointment(input: {patientId: $pt, providerId: $pr, startsAt: $at, durationMinutes: 30, reason: $r}) { id } }";
/// What an event shows of whom it is about, in every shape.
pub(super) const EVENT_FIELDS: &str = "seq cursor type \
    ... on PatientEvent { patient { id firstName email } } \
    ... on PaymentEvent { payment { id patientId } patient { id firstName } } \
    ... on ChargeEvent { charge { id patientId description } patient { id firstName } } \
    ... on AppointmentEvent { appointment { id reason patient { id firstName } } }";

/// A practice A with the signed-in patient (`a.patient`) and another patient, a practice
/// B, and the real OpenID Provider the server trusts.
pub(super) struct World {
    pub app: TestApp,
    pub issuer: Issuer,
    pub a: Fixture,
    pub other: String,
    pub b: Fixture,
}

impl World {
    /// None when node (the provider) or the database is unavailable: a skip.
    pub async fn start(backend: Backend) -> Option<World> {
        let issuer = Issuer::start(IssuerOptions::default()).await?;
        let url = issuer.issuer_url().to_string();
        let app = spawn_app_with(backend, |c| {
            c.identity.oidc_issuer = Some(url);
            c.identity.jwt_audience = Some(DEFAULT_AUDIENCE.into());
            // Webhooks to loopback, so each practice can have an endpoint (on a closed port).
            c.webhooks.allow_private = clinicstream::webhooks::Allowlist::any();
        })
        .await?;
        let a = app.fixture().await;
        let b = app.fixture().await;
        let other = app
            .ok(
                &a.backoffice,
                "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"Otto\", lastName: \"Other\", email: \"otto@example.com\"}) { id } }",
                json!({ "p": a.practice }),
            )
            .await["createPatient"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        Some(World { app, issuer, a, other, b })
    }

    /// A PATIENT access token for `patient` of practice A, through the provider's code flow.
    pub async fn patient_token(&self, sub: &str, patient: &str) -> String {
        let account =
            Account::new(sub, &format!("Patient {sub}"), "PATIENT").practice(&self.a.practice).patient(patient);
        self.issuer.account(&account).await;
        self.issuer.token(sub).await.access_token
    }

    /// Schedules an appointment for `patient` as the practice's back office.
    pub async fn schedule(&self, f: &Fixture, patient: &str, at: &str, reason: &str) -> String {
        let vars = json!({ "pt": patient, "pr": f.provider, "at": at, "r": reason });
        self.app.ok(&f.backoffice, SCHEDULE, vars).await["scheduleAppointment"]["id"].as_str().unwrap().to_string()
    }

    /// Runs `document` as the back office of `f`, which must succeed; returns `data`.
    pub async fn office(&self, f: &Fixture, document: &str, variables: Value) -> Value {
        self.app.ok(&f.backoffice, document, variables).await
    }
}

/// Whose records an operation is aimed at.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Whose {
    Own,
    OtherPatient,
    OtherPractice,
}

/// What a correct answer is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// No error, and the patient's own records in it.
    Own,
    /// No error (the practice and its providers, which a patient may see).
    Data,
    /// NOT_FOUND or FORBIDDEN only.
    Refused,
    /// Anything but another's data (refreshCredentials over HTTP, a quiet subscription).
    Clean,
}

/// The records an operation is aimed at.
struct Target {
    practice: String,
    patient: String,
    provider: String,
    appointment: String,
    endpoint: String,
    delivery: String,
    key_id: String,
    /// What `refreshCredentials` is offered.
    credential: String,
    /// The cursor before the practice's first event: subscriptions replay the whole log.
    start: String,
}

type Case = (String, Value, Expect);

fn cases(t: &Target, whose: Whose) -> BTreeMap<&'static str, Case> {
    use Expect::*;
    // In the patient's own practice a list holds their rows; another practice does not exist.
    let in_practice = |e: Expect| if whose == Whose::OtherPractice { Refused } else { e };
    let own_only = |e: Expect| if whose == Whose::Own { e } else { Refused };
    let (p, pt, pr, apt) = (&t.practice, &t.patient, &t.provider, &t.appointment);
    let (endpoint, delivery, key_id, start) = (&t.endpoint, &t.delivery, &t.key_id, &t.start);
    let case = |doc: &str, vars: Value, expect: Expect| (doc.to_string(), vars, expect);
    let events = format!(
        "query($id: ID!) {{ events(practiceId: $id, first: 200) {{ edges {{ node {{ {EVENT_FIELDS} }} }} }} }}"
    );
    let events_sub =
        format!("subscription($id: ID!, $a: String) {{ events(practiceId: $id, after: $a) {{ {EVENT_FIELDS} }} }}");
    let appointment_sub = |field: &str| {
        format!(
            "subscription($id: ID!, $pr: ID, $a: String) {{ {field}(practiceId: $id, providerId: $pr, after: $a) {{ seq appointment {{ id reason patient {{ id firstName }} }} }} }}"
        )
    };
    let sub_vars = json!({ "id": p, "pr": pr, "a": start });
    BTreeMap::from([
        // Queries
        ("practices", case("{ practices { edges { node { id name timezone } } } }", json!({}), Data)),
        (
            "practice",
            case(
                "query($id: ID!) { practice(id: $id) { id name timezone currency lastCursor } }",
                json!({ "id": p }),
                in_practice(Data),
            ),
        ),
        (
            "practice.quota",
            case(
                "query($id: ID!) { practice(id: $id) { id quota { maxConnections use { connections } } } }",
                json!({ "id": p }),
                Refused,
            ),
        ),
        (
            "provider",
            case("query($id: ID!) { provider(id: $id) { id name kind } }", json!({ "id": pr }), in_practice(Data)),
        ),
        (
            "providers",
            case("query($id: ID!) { providers(practiceId: $id) { id name } }", json!({ "id": p }), in_practice(Data)),
        ),
        (
            "patient",
            case(
                "query($id: ID!) { patient(id: $id) { id firstName email balanceCents } }",
                json!({ "id": pt }),
                own_only(Own),
            ),
        ),
        (
            "patients",
            case(
                "query($id: ID!) { patients(practiceId: $id) { edges { node { id firstName email } } } }",
                json!({ "id": p }),
                in_practice(Own),
            ),
        ),
        (
            "appointment",
            case(
                "query($id: ID!) { appointment(id: $id) { id reason patient { id firstName } } }",
                json!({ "id": apt }),
                own_only(Own),
            ),
        ),
        (
            "appointments",
            case(
                "query($id: ID!) { appointments(practiceId: $id) { edges { node { id reason patient { id firstName } } } } }",
                json!({ "id": p }),
                in_practice(Own),
            ),
        ),
        (
            "payments",
            case(
                "query($id: ID!) { payments(patientId: $id) { edges { node { id patientId amountCents } } } }",
                json!({ "id": pt }),
                own_only(Own),
            ),
        ),
        ("events", case(&events, json!({ "id": p }), in_practice(Own))),
        ("apiKeys", case("query($id: ID!) { apiKeys(practiceId: $id) { id name } }", json!({ "id": p }), Refused)),
        ("bridges", case("{ bridges { kind destination lag lastError } }", json!({}), Refused)),
        ("commandConsumers", case("{ commandConsumers { broker source state lastError } }", json!({}), Refused)),
        (
            "usage",
            case(
                "query($id: ID!) { usage(practiceId: $id, from: \"2026-01-01T00:00:00Z\", to: \"2026-06-01T00:00:00Z\") { practiceId operations } }",
                json!({ "id": p }),
                Refused,
            ),
        ),
        (
            "auditLog",
            case(
                "query($id: ID!) { auditLog(practiceId: $id) { edges { node { id patientIds } } } }",
                json!({ "id": p }),
                Refused,
            ),
        ),
        (
            "webhookEndpoints",
            case("query($id: ID!) { webhookEndpoints(practiceId: $id) { id url } }", json!({ "id": p }), Refused),
        ),
        (
            "websubSubscriptions",
            case(
                "query($id: ID!) { websubSubscriptions(practiceId: $id) { id callback } }",
                json!({ "id": p }),
                Refused,
            ),
        ),
        (
            "webhookDeliveries",
            case(
                "query($id: ID!) { webhookDeliveries(endpointId: $id) { edges { node { id } } } }",
                json!({ "id": endpoint }),
                Refused,
            ),
        ),
        // Mutations
        (
            "createPractice",
            case(
                "mutation { createPractice(input: {name: \"X\", timezone: \"UTC\", currency: \"USD\"}) { id } }",
                json!({}),
                Refused,
            ),
        ),
        (
            "createProvider",
            case(
                "mutation($id: ID!) { createProvider(input: {practiceId: $id, name: \"X\", kind: DENTIST}) { id } }",
                json!({ "id": p }),
                Refused,
            ),
        ),
        (
            "createPatient",
            case(
                "mutation($id: ID!) { createPatient(input: {practiceId: $id, firstName: \"X\", lastName: \"Y\"}) { id } }",
                json!({ "id": p }),
                Refused,
            ),
        ),
        (
            "updatePatient",
            case(
                "mutation($id: ID!) { updatePatient(input: {id: $id, firstName: \"Hacked\"}) { id } }",
                json!({ "id": pt }),
                Refused,
            ),
        ),
        ("scheduleAppointment", case(SCHEDULE, json!({ "pt": pt, "pr": pr, "at": "2031-01-01T09:00:00Z" }), Refused)),
        (
            "rescheduleAppointment",
            case(
                "mutation($id: ID!) { rescheduleAppointment(input: {id: $id, startsAt: \"2031-02-01T09:00:00Z\"}) { id } }",
                json!({ "id": apt }),
                Refused,
            ),
        ),
        (
            "cancelAppointment",
            case(
                "mutation($id: ID!) { cancelAppointment(input: {id: $id, reason: \"I moved away\"}) { id status cancellationReason patient { id } } }",
                json!({ "id": apt }),
                own_only(Own),
            ),
        ),
        (
            "completeAppointment",
            case("mutation($id: ID!) { completeAppointment(input: {id: $id}) { id } }", json!({ "id": apt }), Refused),
        ),
        (
            "postCharge",
            case(
                "mutation($id: ID!) { postCharge(input: {patientId: $id, amountCents: 100, description: \"X\"}) { id } }",
                json!({ "id": pt }),
                Refused,
            ),
        ),
        (
            "postPayment",
            case(
                "mutation($id: ID!) { postPayment(input: {patientId: $id, amountCents: 100, method: CASH}) { id } }",
                json!({ "id": pt }),
                Refused,
            ),
        ),
        (
            "createApiKey",
            case(
                "mutation($id: ID!) { createApiKey(input: {practiceId: $id, role: SUBSCRIBER, name: \"X\"}) { key } }",
                json!({ "id": p }),
                Refused,
            ),
        ),
        (
            "setPracticeQuota",
            case(
                "mutation($id: ID!) { setPracticeQuota(input: {practiceId: $id, maxConnections: 1}) { maxConnections } }",
                json!({ "id": p }),
                Refused,
            ),
        ),
        (
            "revokeApiKey",
            case("mutation($id: ID!) { revokeApiKey(input: {id: $id}) { id } }", json!({ "id": key_id }), Refused),
        ),
        (
            "refreshCredentials",
            case("mutation($k: String!) { refreshCredentials(key: $k) }", json!({ "k": t.credential }), Clean),
        ),
        (
            "createWebhookEndpoint",
            case(
                "mutation($id: ID!) { createWebhookEndpoint(input: {practiceId: $id, url: \"http://127.0.0.1:9/a\"}) { secret } }",
                json!({ "id": p }),
                Refused,
            ),
        ),
        (
            "updateWebhookEndpoint",
            case(
                "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, description: \"hijacked\"}) { id } }",
                json!({ "id": endpoint }),
                Refused,
            ),
        ),
        (
            "rotateWebhookSecret",
            case(
                "mutation($id: ID!) { rotateWebhookSecret(input: {id: $id}) { secret } }",
                json!({ "id": endpoint }),
                Refused,
            ),
        ),
        (
            "deleteWebhookEndpoint",
            case(
                "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { id } }",
                json!({ "id": endpoint }),
                Refused,
            ),
        ),
        (
            "redeliverWebhook",
            case(
                "mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) { id } }",
                json!({ "id": delivery }),
                Refused,
            ),
        ),
        (
            "replayWebhooks",
            case(
                "mutation($id: ID!) { replayWebhooks(input: {endpointId: $id}) { __typename } }",
                json!({ "id": endpoint }),
                Refused,
            ),
        ),
        // Subscriptions, replaying the whole log
        ("events:subscription", case(&events_sub, json!({ "id": p, "a": start }), in_practice(Own))),
        ("appointmentScheduled", case(&appointment_sub("appointmentScheduled"), sub_vars.clone(), in_practice(Own))),
        (
            "appointmentRescheduled",
            case(&appointment_sub("appointmentRescheduled"), sub_vars.clone(), in_practice(Own)),
        ),
        ("appointmentCancelled", case(&appointment_sub("appointmentCancelled"), sub_vars.clone(), in_practice(Own))),
        ("appointmentStartingSoon", case(&appointment_sub("appointmentStartingSoon"), sub_vars, in_practice(Clean))),
        (
            "patientCreated",
            case(
                "subscription($id: ID!, $a: String) { patientCreated(practiceId: $id, after: $a) { seq patient { id firstName email } } }",
                json!({ "id": p, "a": start }),
                in_practice(Own),
            ),
        ),
        (
            "paymentPosted",
            case(
                "subscription($id: ID!, $pt: ID, $a: String) { paymentPosted(practiceId: $id, patientId: $pt, after: $a) { seq payment { id patientId } patient { id firstName } } }",
                json!({ "id": p, "pt": pt, "a": start }),
                own_only(Own),
            ),
        ),
    ])
}

/// The operations the schema serves, named as in `cases` (subscriptions that share a
/// query's name get a `:subscription` suffix), and the nested practice-level field.
/// The isolation matrix's operations, and `practice.quota` (a field a patient may not read).
async fn operations(app: &TestApp) -> Vec<(String, &'static str)> {
    let mut out = vec![("practice.quota".to_string(), "query")];
    out.extend(crate::isolation::operations(app).await);
    out
}

/// `document` as a live query.
fn live(document: &str) -> String {
    match document.strip_prefix("{ ") {
        Some(rest) => format!("query @live {{ {rest}"),
        None => document.replacen(") {", ") @live {", 1),
    }
}

/// A stream's answers as one body: every `data` and every error.
fn gathered(data: Vec<Value>, errors: Vec<Value>) -> Value {
    json!({ "data": data, "errors": errors })
}

/// A websocket operation's first answer (`first_only`, for a live query) or everything it
/// sends until it completes or stays quiet.
async fn over_websocket(app: &TestApp, token: &str, document: &str, variables: &Value, first_only: bool) -> Value {
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, token).await;
    client.subscribe("x", document, variables.clone()).await;
    let (mut data, mut errors) = (Vec::new(), Vec::new());
    let mut message = client.recv_within(FIRST).await;
    while let Some(m) = message {
        match m["type"].as_str() {
            Some("next") => {
                data.extend(m["payload"].get("data").cloned());
                errors.extend(m["payload"]["errors"].as_array().cloned().unwrap_or_default());
            }
            Some("error") => errors.extend(m["payload"].as_array().cloned().unwrap_or_default()),
            _ => break,
        }
        if first_only {
            break;
        }
        message = client.recv_within(QUIET).await;
    }
    client.close().await;
    gathered(data, errors)
}

/// An SSE subscription's answers until it completes or stays quiet.
async fn over_sse(app: &TestApp, token: &str, document: &str, variables: &Value) -> Value {
    let response = sse_post(app, Some(token), document, variables.clone(), None).await;
    assert_eq!(response.status(), 200, "the stream opens; refusals travel in it");
    let mut stream = SseStream::from_response(response);
    let (mut data, mut errors) = (Vec::new(), Vec::new());
    let mut wait = FIRST;
    while let Ok(Some(message)) = stream.next_within(wait).await {
        if message.event != "next" {
            break;
        }
        let body = message.json();
        data.extend(body.get("data").cloned());
        errors.extend(body["errors"].as_array().cloned().unwrap_or_default());
        wait = QUIET;
    }
    gathered(data, errors)
}

/// The live-query door's refusal of a field that is never live (the same for every caller).
fn cannot_be_live(body: &Value) -> bool {
    codes(body) == ["BAD_USER_INPUT"]
        && body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("cannot be live"))
}

fn codes(body: &Value) -> Vec<String> {
    let errors = body["errors"].as_array().into_iter().flatten();
    errors.map(|e| e["extensions"]["code"].as_str().unwrap_or("-").to_string()).collect()
}

/// What is wrong with `body` as an answer that should be `expect`: None when nothing.
fn judge(body: &Value, expect: Expect, own: &str, secrets: &[&str]) -> Option<String> {
    let text = body.to_string();
    if let Some(secret) = secrets.iter().find(|s| text.contains(*s)) {
        return Some(format!("revealed {secret}"));
    }
    let codes = codes(body);
    match expect {
        Expect::Own if !codes.is_empty() || !text.contains(own) => {
            Some("did not answer with the patient's own rows".into())
        }
        Expect::Data if !codes.is_empty() => Some("was refused".into()),
        Expect::Refused if codes.is_empty() || codes.iter().any(|c| c != "NOT_FOUND" && c != "FORBIDDEN") => {
            Some(format!("must be NOT_FOUND or FORBIDDEN, was {codes:?}"))
        }
        _ => None,
    }
    .map(|why| format!("{why}: {}", &text[..text.len().min(400)]))
}

/// Everything of everyone but the patient, and of the patient what the matrix may not
/// change (their record; of their log, only one cancellation may be added).
async fn snapshot(w: &World, appointments: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for (practice, name) in [(&w.a.practice, "a"), (&w.b.practice, "b")] {
        let log = w.app.admin(&format!("query($id: ID!) {{ events(practiceId: $id, first: 200) {{ edges {{ node {{ {EVENT_FIELDS} }} }} pageInfo {{ hasNextPage }} }} }}"), json!({ "id": practice })).await;
        assert_eq!(log["data"]["events"]["pageInfo"]["hasNextPage"], false, "{log}");
        let mut events: Vec<Value> =
            log["data"]["events"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
        // The patient's own cancellation is the one change the matrix makes.
        events.retain(|e| e["type"] != "APPOINTMENT_CANCELLED" || !e.to_string().contains(&w.a.patient));
        out.insert(format!("{name}.log"), json!(events));
        let practice_level = w.app.admin("query($id: ID!) { apiKeys(practiceId: $id) { id revokedAt } webhookEndpoints(practiceId: $id) { id url description } practice(id: $id) { quota { maxConnections } } }", json!({ "id": practice })).await;
        out.insert(format!("{name}.practice"), practice_level);
    }
    for patient in [&w.a.patient, &w.other, &w.b.patient] {
        let record = w
            .app
            .admin(
                "query($id: ID!) { patient(id: $id) { firstName lastName email balanceCents } }",
                json!({ "id": patient }),
            )
            .await;
        out.insert(patient.clone(), record);
    }
    for id in appointments {
        let record = w
            .app
            .admin("query($id: ID!) { appointment(id: $id) { status startsAt version } }", json!({ "id": id }))
            .await;
        out.insert(id.to_string(), record);
    }
    let practices = w.app.admin("{ practices(first: 200) { edges { node { id } } } }", json!({})).await;
    out.insert("practices".into(), practices);
    Value::Object(out)
}

/// A webhook endpoint of `f`'s practice and its first delivery (after a payment).
async fn endpoint_with_delivery(w: &World, f: &Fixture, url: &str) -> (String, String) {
    let created = w
        .office(f, "mutation($id: ID!, $u: String!) { createWebhookEndpoint(input: {practiceId: $id, url: $u}) { endpoint { id } } }", json!({ "id": f.practice, "u": url }))
        .await;
    let endpoint = created["createWebhookEndpoint"]["endpoint"]["id"].as_str().unwrap().to_string();
    w.app.post_payment(&f.backoffice, &f.patient, 1).await;
    let first_delivery = async || {
        let found = w
            .office(
                f,
                "query($id: ID!) { webhookDeliveries(endpointId: $id) { edges { node { id } } } }",
                json!({ "id": endpoint }),
            )
            .await;
        found["webhookDeliveries"]["edges"][0]["node"]["id"].as_str().map(str::to_string)
    };
    let found = crate::helpers::eventually(Duration::from_secs(10), first_delivery, Option::is_some).await;
    let id = found.ok().flatten().expect("the endpoint got no delivery");
    (endpoint, id)
}

/// Gives `patient` one of every event: a charge, a payment, an appointment rescheduled and
/// one cancelled; returns the ids that name them.
async fn history(w: &World, f: &Fixture, patient: &str, tag: &str, hour: u32) -> Vec<String> {
    let charge = w.office(f, "mutation($id: ID!, $d: String!) { postCharge(input: {patientId: $id, amountCents: 9000, description: $d}) { id } }", json!({ "id": patient, "d": format!("Crown for {tag}") })).await;
    let payment = w
        .office(
            f,
            "mutation($id: ID!) { postPayment(input: {patientId: $id, amountCents: 4000, method: CARD}) { id } }",
            json!({ "id": patient }),
        )
        .await;
    let moved = w.schedule(f, patient, &format!("2032-03-01T{hour:02}:00:00Z"), &format!("Check-up for {tag}")).await;
    w.office(
        f,
        "mutation($id: ID!, $at: DateTime!) { rescheduleAppointment(input: {id: $id, startsAt: $at}) { id } }",
        json!({ "id": moved, "at": format!("2032-03-02T{hour:02}:00:00Z") }),
    )
    .await;
    let dropped = w.schedule(f, patient, &format!("2032-04-01T{hour:02}:00:00Z"), &format!("Cleaning for {tag}")).await;
    w.office(
        f,
        "mutation($id: ID!) { cancelAppointment(input: {id: $id, reason: \"office closed\"}) { id } }",
        json!({ "id": dropped }),
    )
    .await;
    vec![
        charge["postCharge"]["id"].as_str().unwrap().to_string(),
        payment["postPayment"]["id"].as_str().unwrap().to_string(),
        moved,
        dropped,
        format!("Crown for {tag}"),
        format!("Check-up for {tag}"),
    ]
}

async fn key_ids(w: &World, practice: &str) -> Vec<String> {
    let keys = w.app.admin("query($id: ID!) { apiKeys(practiceId: $id) { id } }", json!({ "id": practice })).await;
    keys["data"]["apiKeys"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap().to_string()).collect()
}

async fn no_operation_shows_a_patient_anything_but_their_own(backend: Backend) {
    let Some(w) = World::start(backend).await else { return };
    let (a, b) = (&w.a, &w.b);
    let own_appointment = w.schedule(a, &a.patient, "2031-05-01T09:00:00Z", "Own filling").await;
    let other_appointment = w.schedule(a, &w.other, "2031-05-01T10:00:00Z", "Otto's root canal").await;
    let foreign_appointment = w.schedule(b, &b.patient, "2031-05-01T09:00:00Z", "Foreign filling").await;
    history(&w, a, &a.patient, "own", 9).await;
    let other_ids = history(&w, a, &w.other, "Otto", 11).await;
    let foreign_ids = history(&w, b, &b.patient, "foreign", 9).await;
    let (a_endpoint, a_delivery) = endpoint_with_delivery(&w, a, "http://127.0.0.1:9/hook-a").await;
    let (b_endpoint, b_delivery) = endpoint_with_delivery(&w, b, "http://127.0.0.1:9/hook-b").await;
    let (a_keys, b_keys) = (key_ids(&w, &a.practice).await, key_ids(&w, &b.practice).await);
    let token = w.patient_token("ann", &a.patient).await;
    let other_token = w.patient_token("otto", &w.other).await;

    // Nothing of another patient, of another practice, or of the practice's own business.
    let mut secrets: Vec<String> =
        vec![w.other.clone(), "Otto".into(), "otto@example.com".into(), other_appointment.clone()];
    secrets.extend(other_ids.iter().cloned());
    secrets.extend([b.practice.clone(), b.patient.clone(), b.provider.clone(), foreign_appointment.clone()]);
    secrets.extend(foreign_ids.iter().cloned());
    secrets.extend([
        a_endpoint.clone(),
        a_delivery.clone(),
        b_endpoint.clone(),
        b_delivery.clone(),
        "hook-a".into(),
        "hook-b".into(),
    ]);
    secrets.extend(a_keys.iter().chain(&b_keys).cloned());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();

    let start = |practice: &str| Cursor { practice_id: practice.to_string(), seq: 0 }.encode();
    let targets = [
        (
            Whose::Own,
            Target {
                practice: a.practice.clone(),
                patient: a.patient.clone(),
                provider: a.provider.clone(),
                appointment: own_appointment.clone(),
                endpoint: a_endpoint.clone(),
                delivery: a_delivery.clone(),
                key_id: a_keys[0].clone(),
                credential: token.clone(),
                start: start(&a.practice),
            },
        ),
        (
            Whose::OtherPatient,
            Target {
                practice: a.practice.clone(),
                patient: w.other.clone(),
                provider: a.provider.clone(),
                appointment: other_appointment.clone(),
                endpoint: a_endpoint.clone(),
                delivery: a_delivery.clone(),
                key_id: a_keys[1].clone(),
                credential: other_token.clone(),
                start: start(&a.practice),
            },
        ),
        (
            Whose::OtherPractice,
            Target {
                practice: b.practice.clone(),
                patient: b.patient.clone(),
                provider: b.provider.clone(),
                appointment: foreign_appointment.clone(),
                endpoint: b_endpoint.clone(),
                delivery: b_delivery.clone(),
                key_id: b_keys[0].clone(),
                credential: b.subscriber.clone(),
                start: start(&b.practice),
            },
        ),
    ];
    // The patient's own appointment is the one record the matrix may change (checked below).
    let mut appointments: Vec<&str> = vec![&other_appointment, &foreign_appointment];
    appointments.extend(other_ids[2..4].iter().chain(&foreign_ids[2..4]).map(String::as_str));
    let before = snapshot(&w, &appointments).await;

    let operations = operations(&w.app).await;
    let (mut leaks, mut checked) = (Vec::new(), 0);
    for (whose, target) in &targets {
        let cases = cases(target, *whose);
        for (name, kind) in &operations {
            let (document, variables, expect) =
                cases.get(name.as_str()).unwrap_or_else(|| panic!("no PATIENT case for the {kind} `{name}`: add one"));
            let doors: Vec<(&str, Value)> = match *kind {
                "query" => vec![
                    ("HTTP", w.app.gql(Some(&token), document, variables.clone()).await),
                    ("live query", over_websocket(&w.app, &token, &live(document), variables, true).await),
                ],
                "mutation" => vec![("HTTP", w.app.gql(Some(&token), document, variables.clone()).await)],
                _ => vec![
                    ("websocket", over_websocket(&w.app, &token, document, variables, false).await),
                    ("SSE", over_sse(&w.app, &token, document, variables).await),
                ],
            };
            for (door, body) in doors {
                checked += 1;
                // Fields that change without an event cannot be live, for anyone: no answer to judge.
                let expect = if door == "live query" && cannot_be_live(&body) { Expect::Clean } else { *expect };
                if let Some(why) = judge(&body, expect, &a.patient, &secrets) {
                    leaks.push(format!("{whose:?} `{name}` over {door} {why}"));
                }
            }
        }
    }
    let after = snapshot(&w, &appointments).await;
    for (what, was) in before.as_object().unwrap() {
        if after[what] != *was {
            leaks.push(format!("{what} changed:\nbefore {was}\nafter  {}", after[what]));
        }
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "PATIENT isolation matrix ({backend:?}): {checked} operation × target × door cases, {} leaks",
        leaks.len()
    );
    assert!(leaks.is_empty(), "{} leaks:\n{}", leaks.len(), leaks.join("\n"));
    // The one change a patient may make: their own appointment, cancelled with their reason.
    let own = w
        .app
        .admin(
            "query($id: ID!) { appointment(id: $id) { status cancellationReason } }",
            json!({ "id": own_appointment }),
        )
        .await;
    assert_eq!(own["data"]["appointment"], json!({ "status": "CANCELLED", "cancellationReason": "I moved away" }));
}

mod no_operation_shows_a_patient_anything_but_their_own {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::no_operation_shows_a_patient_anything_but_their_own(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::no_operation_shows_a_patient_anything_but_their_own(Backend::Postgres).await;
    }
}

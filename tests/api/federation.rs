//! clinicstream as an Apollo Federation v2 subgraph (`FEDERATION=true`): off by default,
//! `_service { sdl }` is the checked-in federated SDL, and `_entities` answers every keyed
//! resource by reference in one batch, as the caller may see it: another practice's
//! references are nulls with NOT_FOUND errors beside them, never data, and hostile
//! representations get an answer, not a panic. Through a real gateway: `federation_gateway`.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Backend, Fixture, TestApp, code, spawn_app, spawn_app_with};

const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) { __typename \
    ... on Practice { id name } ... on Provider { id name } ... on Patient { id firstName lastName } \
    ... on Appointment { id reason patient { id } } ... on Payment { id amountCents } \
    ... on Charge { id amountCents description } } }";

pub async fn federated(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |c| c.federation.enabled = true).await
}

fn reference(typename: &str, id: &str) -> Value {
    json!({ "__typename": typename, "id": id })
}

/// The ids of one of each resource of the fixture's practice (patient, provider, practice,
/// appointment, payment, charge), made through the plain mutations.
async fn one_of_each(app: &TestApp, f: &Fixture) -> Vec<(&'static str, String)> {
    let appointment = app
        .ok(
            &f.backoffice,
            "mutation($pt: ID!, $pr: ID!) { scheduleAppointment(input: {patientId: $pt, providerId: $pr, \
             startsAt: \"2031-03-04T15:00:00Z\", durationMinutes: 30, reason: \"Cleaning\"}) { id } }",
            json!({ "pt": f.patient, "pr": f.provider }),
        )
        .await["scheduleAppointment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let payment = app.post_payment(&f.backoffice, &f.patient, 2500).await["data"]["postPayment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let charge = app
        .ok(
            &f.backoffice,
            "mutation($p: ID!) { postCharge(input: {patientId: $p, amountCents: 9000, description: \"Crown\"}) { id } }",
            json!({ "p": f.patient }),
        )
        .await["postCharge"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    vec![
        ("Practice", f.practice.clone()),
        ("Provider", f.provider.clone()),
        ("Patient", f.patient.clone()),
        ("Appointment", appointment),
        ("Payment", payment),
        ("Charge", charge),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_is_off_by_default_so_the_plain_schema_has_no_service_and_no_entities() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let body = app.admin("{ _service { sdl } }", json!({})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = app.admin(ENTITIES, json!({ "r": [reference("Practice", "prc_x")] })).await;
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}

async fn a_federated_server_serves_its_sdl_and_every_resource_by_reference_in_one_request(backend: Backend) {
    let Some(app) = federated(backend).await else { return };
    let body = app.gql(None, "{ _service { sdl } }", json!({})).await;
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.federation.graphql")).unwrap();
    assert!(body["data"]["_service"]["sdl"] == checked_in, "`_service {{ sdl }}` is schema.federation.graphql");

    let f = app.fixture().await;
    let resources = one_of_each(&app, &f).await;
    let representations: Vec<Value> = resources.iter().map(|(t, id)| reference(t, id)).collect();
    for key in [&f.backoffice, &f.subscriber, &f.practice_admin, &ADMIN_KEY.to_string()] {
        let data = app.ok(key, ENTITIES, json!({ "r": representations })).await;
        let found = data["_entities"].as_array().unwrap();
        assert_eq!(found.len(), resources.len());
        for ((typename, id), entity) in resources.iter().zip(found) {
            assert_eq!(entity["__typename"], *typename, "{data}");
            assert_eq!(entity["id"], *id, "{data}");
        }
        assert_eq!(found[2]["firstName"], "Maria");
        assert_eq!(found[3]["patient"]["id"], f.patient);
        assert_eq!(found[4]["amountCents"], 2500);
        assert_eq!(found[5]["description"], "Crown");
    }
    // The plain schema's queries are all still there.
    let data =
        app.ok(&f.backoffice, "query($id: ID!) { patient(id: $id) { firstName } }", json!({ "id": f.patient })).await;
    assert_eq!(data["patient"]["firstName"], "Maria");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_federated_server_serves_its_sdl_and_every_resource_by_reference_in_one_request_sqlite() {
    a_federated_server_serves_its_sdl_and_every_resource_by_reference_in_one_request(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_federated_server_serves_its_sdl_and_every_resource_by_reference_in_one_request_postgres() {
    a_federated_server_serves_its_sdl_and_every_resource_by_reference_in_one_request(Backend::Postgres).await;
}

async fn another_practices_references_are_nulls_with_not_found_never_data(backend: Backend) {
    let Some(app) = federated(backend).await else { return };
    let mine = app.fixture().await;
    let theirs = app.fixture().await;
    let their_resources = one_of_each(&app, &theirs).await;
    let mut representations = vec![reference("Patient", &mine.patient)];
    representations.extend(their_resources.iter().map(|(t, id)| reference(t, id)));
    representations.push(reference("Patient", "pat_does_not_exist"));

    for key in [&mine.backoffice, &mine.subscriber, &mine.practice_admin] {
        let body = app.gql(Some(key), ENTITIES, json!({ "r": representations })).await;
        let found = body["data"]["_entities"].as_array().unwrap_or_else(|| panic!("a list: {body}"));
        assert_eq!(found.len(), representations.len());
        assert_eq!(found[0]["id"], mine.patient, "{body}");
        assert!(found[1..].iter().all(Value::is_null), "another practice's references are null: {body}");
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), representations.len() - 1, "{body}");
        assert!(errors.iter().all(|e| e["extensions"]["code"] == "NOT_FOUND"), "{body}");
        assert!(errors.iter().all(|e| e["path"] == json!(["_entities"])), "{body}");
        for (_, id) in &their_resources {
            assert!(!body.to_string().contains(id.as_str()), "their id {id} is never echoed: {body}");
        }
        assert!(!body.to_string().contains("Crown"), "{body}");
    }
    // Without a key: refused as a whole.
    let body = app.gql(None, ENTITIES, json!({ "r": [reference("Patient", &mine.patient)] })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    assert!(!body.to_string().contains("Maria"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_practices_references_are_nulls_with_not_found_never_data_sqlite() {
    another_practices_references_are_nulls_with_not_found_never_data(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_practices_references_are_nulls_with_not_found_never_data_postgres() {
    another_practices_references_are_nulls_with_not_found_never_data(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_hostile_and_oversized_representations_get_an_answer_not_data_and_not_a_panic() {
    let Some(app) = federated(Backend::Postgres).await else { return };
    let f = app.fixture().await;
    let ask = |r: Value| {
        let (app, key) = (&app, f.backoffice.clone());
        async move { app.gql(Some(&key), ENTITIES, json!({ "r": r })).await }
    };
    // No __typename, a __typename that is not a string: the request's own error.
    for bad in [json!([{ "id": f.patient }]), json!([{ "__typename": 7, "id": f.patient }])] {
        let body = ask(bad).await;
        assert!(body["data"].is_null() || body["data"]["_entities"].is_null(), "{body}");
        assert!(!body["errors"].as_array().unwrap().is_empty(), "{body}");
        assert!(!body.to_string().contains("Maria"), "{body}");
    }
    // A type that is not an entity, an id that is not a string, a representation that is
    // not an object: nothing is found, and nothing leaks.
    for bad in [
        json!([{ "__typename": "ApiKey", "id": "key_1" }]),
        json!([{ "__typename": "Patient", "id": { "$ne": null } }]),
        json!(["Patient"]),
    ] {
        let body = ask(bad.clone()).await;
        assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{bad}: {body}");
        assert!(!body.to_string().contains("Maria"), "{body}");
    }
    // Ids that are oversized, control characters or SQL: NOT_FOUND, like any unknown id.
    let hostile = ["x".repeat(10_000), "pat_\u{7}1".to_string(), "' OR 1=1 --".to_string(), String::new()];
    let body = ask(Value::Array(hostile.iter().map(|id| reference("Patient", id)).collect())).await;
    assert!(body["data"]["_entities"].as_array().unwrap().iter().all(Value::is_null), "{body}");
    assert!(
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["extensions"]["code"] == "NOT_FOUND" || e["extensions"]["code"] == "BAD_USER_INPUT"),
        "{body}"
    );

    // A gateway's big batch (over one loader batch of 500): answered in one response, in
    // order, the one real patient found wherever it is.
    let mut many: Vec<Value> = (0..1_200).map(|i| reference("Patient", &format!("pat_missing_{i}"))).collect();
    many[777] = reference("Patient", &f.patient);
    let body = ask(Value::Array(many)).await;
    let found = body["data"]["_entities"].as_array().unwrap_or_else(|| panic!("a list: {}", &body.to_string()[..500]));
    assert_eq!(found.len(), 1_200);
    assert_eq!(found[777]["firstName"], "Maria");
    assert_eq!(found.iter().filter(|e| !e.is_null()).count(), 1);
}

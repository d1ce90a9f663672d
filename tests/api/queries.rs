//! Every mutation and query of the contract, end to end, on both backends.

use serde_json::json;

use crate::helpers::{ADMIN_KEY, TestApp, code};
use crate::on_both_backends;

on_both_backends!(every_mutation_and_query_works, double_booking_is_a_conflict_and_appends_nothing);

async fn every_mutation_and_query_works(app: TestApp) {
    let f = app.fixture().await;
    let bo = f.backoffice.as_str();

    // Patients: update, get, search.
    let updated = app
        .ok(
            bo,
            "mutation($id: ID!) { updatePatient(input: {id: $id, phone: \"+1 555 0101\", dateOfBirth: \"1990-04-01\"}) { id firstName phone dateOfBirth email } }",
            json!({ "id": f.patient }),
        )
        .await;
    assert_eq!(updated["updatePatient"]["phone"], "+1 555 0101");
    assert_eq!(updated["updatePatient"]["dateOfBirth"], "1990-04-01");
    assert_eq!(updated["updatePatient"]["email"], "maria@example.com", "omitted fields are kept");
    let other = app
        .ok(bo, "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"James\", lastName: \"Chen\"}) { id } }", json!({ "p": f.practice }))
        .await["createPatient"]["id"]
        .clone();
    let found = app
        .ok(
            bo,
            "query($p: ID!) { patients(practiceId: $p, search: \"LOP\") { edges { node { id lastName } } } }",
            json!({ "p": f.practice }),
        )
        .await;
    let edges = found["patients"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0]["node"]["lastName"], "Lopez");
    let page = app
        .ok(bo, "query($p: ID!) { patients(practiceId: $p, first: 1) { edges { cursor node { id } } pageInfo { hasNextPage } } }", json!({ "p": f.practice }))
        .await;
    assert_eq!(page["patients"]["pageInfo"]["hasNextPage"], true);
    let cursor = page["patients"]["edges"][0]["cursor"].clone();
    let next = app
        .ok(bo, "query($p: ID!, $a: String) { patients(practiceId: $p, first: 1, after: $a) { edges { node { id } } pageInfo { hasNextPage } } }", json!({ "p": f.practice, "a": cursor }))
        .await;
    assert_eq!(next["patients"]["edges"][0]["node"]["id"], other);
    assert_eq!(next["patients"]["pageInfo"]["hasNextPage"], false);

    // Appointments: schedule, reschedule, cancel, complete.
    let schedule = "mutation($pt: ID!, $pr: ID!, $at: DateTime!) { scheduleAppointment(input: {patientId: $pt, providerId: $pr, startsAt: $at, durationMinutes: 30, reason: \"Checkup\"}) { id status version durationMinutes endsAt patient { id } provider { id name } } }";
    let a1 = app.ok(bo, schedule, json!({ "pt": f.patient, "pr": f.provider, "at": "2030-01-07T14:00:00Z" })).await;
    assert_eq!(a1["scheduleAppointment"]["status"], "SCHEDULED");
    assert_eq!(a1["scheduleAppointment"]["endsAt"], "2030-01-07T14:30:00+00:00");
    assert_eq!(a1["scheduleAppointment"]["provider"]["name"], "Dr. Ada Park");
    let a1 = a1["scheduleAppointment"]["id"].as_str().unwrap().to_string();
    let moved = app
        .ok(bo, "mutation($id: ID!) { rescheduleAppointment(input: {id: $id, startsAt: \"2030-01-07T15:00:00Z\", durationMinutes: 45}) { startsAt durationMinutes version } }", json!({ "id": a1 }))
        .await;
    assert_eq!(moved["rescheduleAppointment"]["durationMinutes"], 45);
    assert_eq!(moved["rescheduleAppointment"]["version"], 2);
    let a2 = app.ok(bo, schedule, json!({ "pt": other, "pr": f.provider, "at": "2030-01-07T16:00:00Z" })).await["scheduleAppointment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cancelled = app
        .ok(bo, "mutation($id: ID!) { cancelAppointment(input: {id: $id, reason: \"sick\"}) { status cancellationReason } }", json!({ "id": a2 }))
        .await;
    assert_eq!(cancelled["cancelAppointment"]["status"], "CANCELLED");
    assert_eq!(cancelled["cancelAppointment"]["cancellationReason"], "sick");
    let again = app
        .gql(Some(bo), "mutation($id: ID!) { cancelAppointment(input: {id: $id}) { status } }", json!({ "id": a2 }))
        .await;
    assert_eq!(code(&again), "CONFLICT", "a cancelled appointment cannot be cancelled again");
    let done = app
        .ok(bo, "mutation($id: ID!) { completeAppointment(input: {id: $id}) { status version } }", json!({ "id": a1 }))
        .await;
    assert_eq!(done["completeAppointment"]["status"], "COMPLETED");
    let one = app
        .ok(bo, "query($id: ID!) { appointment(id: $id) { id status patient { firstName } } }", json!({ "id": a1 }))
        .await;
    assert_eq!(one["appointment"]["patient"]["firstName"], "Maria");
    let listed = app
        .ok(
            bo,
            "query($p: ID!, $pr: ID) { appointments(practiceId: $p, from: \"2030-01-07T00:00:00Z\", to: \"2030-01-08T00:00:00Z\", providerId: $pr) { edges { node { id status } } } }",
            json!({ "p": f.practice, "pr": f.provider }),
        )
        .await;
    assert_eq!(listed["appointments"]["edges"].as_array().unwrap().len(), 2);
    let cancelled_only = app
        .ok(
            bo,
            "query($p: ID!) { appointments(practiceId: $p, status: CANCELLED) { edges { node { id } } } }",
            json!({ "p": f.practice }),
        )
        .await;
    assert_eq!(cancelled_only["appointments"]["edges"][0]["node"]["id"], a2);

    // Billing: balance = charges - payments.
    let charge = app
        .ok(bo, "mutation($p: ID!, $a: ID) { postCharge(input: {patientId: $p, amountCents: 12000, description: \"Cleaning\", appointmentId: $a}) { id amountCents appointmentId } }", json!({ "p": f.patient, "a": a1 }))
        .await;
    assert_eq!(charge["postCharge"]["appointmentId"], a1);
    assert!(app.post_payment(bo, &f.patient, 4500).await.get("errors").is_none());
    let patient = app.ok(bo, "query($id: ID!) { patient(id: $id) { balanceCents } }", json!({ "id": f.patient })).await;
    assert_eq!(patient["patient"]["balanceCents"], 7500);
    let payments = app
        .ok(
            bo,
            "query($id: ID!) { payments(patientId: $id) { edges { node { amountCents method } } } }",
            json!({ "id": f.patient }),
        )
        .await;
    assert_eq!(payments["payments"]["edges"][0]["node"]["amountCents"], 4500);

    // Practices, providers, keys.
    let practice = app
        .ok(bo, "query($id: ID!) { practice(id: $id) { name timezone currency } }", json!({ "id": f.practice }))
        .await;
    assert_eq!(practice["practice"]["timezone"], "America/New_York");
    let practices = app.ok(bo, "{ practices { edges { node { id } } } }", json!({})).await;
    assert_eq!(practices["practices"]["edges"].as_array().unwrap().len(), 1, "a scoped key sees its own practice only");
    let provider = app.ok(bo, "query($id: ID!) { provider(id: $id) { kind } }", json!({ "id": f.provider })).await;
    assert_eq!(provider["provider"]["kind"], "DENTIST");
    let keys = app
        .ok(
            &f.practice_admin,
            "query($p: ID!) { apiKeys(practiceId: $p) { id role prefix revokedAt } }",
            json!({ "p": f.practice }),
        )
        .await;
    let keys = keys["apiKeys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| k["prefix"].as_str().unwrap().starts_with("cs_")));
    let subscriber_key = keys.iter().find(|k| k["role"] == "SUBSCRIBER").unwrap()["id"].clone();
    let revoked = app
        .ok(
            &f.practice_admin,
            "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { revokedAt } }",
            json!({ "id": subscriber_key }),
        )
        .await;
    assert!(revoked["revokeApiKey"]["revokedAt"].is_string());
    let after_revoke = app.gql(Some(&f.subscriber), "{ practices { edges { node { id } } } }", json!({})).await;
    assert_eq!(code(&after_revoke), "UNAUTHENTICATED", "a revoked key stops working at once");

    // The log holds one event per state change, seq 1..n, in order.
    let log = app.log(&f.practice).await;
    let types: Vec<&str> = log.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "PATIENT_CREATED",
            "PATIENT_UPDATED",
            "PATIENT_CREATED",
            "APPOINTMENT_SCHEDULED",
            "APPOINTMENT_RESCHEDULED",
            "APPOINTMENT_SCHEDULED",
            "APPOINTMENT_CANCELLED",
            "APPOINTMENT_COMPLETED",
            "CHARGE_POSTED",
            "PAYMENT_POSTED",
        ]
    );
    assert_eq!(log.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
    let only_payments = app
        .ok(ADMIN_KEY, "query($p: ID!) { events(practiceId: $p, types: [PAYMENT_POSTED]) { edges { node { seq ... on PaymentEvent { payment { amountCents } patient { balanceCents } } } } } }", json!({ "p": f.practice }))
        .await;
    let node = &only_payments["events"]["edges"][0]["node"];
    assert_eq!(node["seq"], 10);
    assert_eq!(node["patient"]["balanceCents"], 7500, "the snapshot carries the balance after the payment");
}

async fn double_booking_is_a_conflict_and_appends_nothing(app: TestApp) {
    let f = app.fixture().await;
    let schedule = "mutation($pt: ID!, $pr: ID!, $at: DateTime!, $d: Int!) { scheduleAppointment(input: {patientId: $pt, providerId: $pr, startsAt: $at, durationMinutes: $d}) { id } }";
    app.ok(
        &f.backoffice,
        schedule,
        json!({ "pt": f.patient, "pr": f.provider, "at": "2030-02-01T10:00:00Z", "d": 60 }),
    )
    .await;
    let before = app.log(&f.practice).await;
    let overlap = app
        .gql(
            Some(&f.backoffice),
            schedule,
            json!({ "pt": f.patient, "pr": f.provider, "at": "2030-02-01T10:30:00Z", "d": 30 }),
        )
        .await;
    assert_eq!(code(&overlap), "CONFLICT");
    assert_eq!(app.log(&f.practice).await, before, "a failed mutation appends nothing");
    // Back to back is not an overlap.
    app.ok(
        &f.backoffice,
        schedule,
        json!({ "pt": f.patient, "pr": f.provider, "at": "2030-02-01T11:00:00Z", "d": 30 }),
    )
    .await;
}

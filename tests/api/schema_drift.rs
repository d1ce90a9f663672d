//! The checked-in `schema.graphql` is the contract: it must match what the code serves.

#[test]
fn schema_graphql_matches_the_code() {
    let checked_in = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    let served = clinicstream::graphql::sdl();
    assert!(
        checked_in == served,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql` and review the diff"
    );
}

#[test]
fn schema_federation_graphql_matches_the_code() {
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.federation.graphql")).unwrap();
    let served = clinicstream::graphql::federation_sdl();
    assert!(
        checked_in == served,
        "schema.federation.graphql is stale: run `cargo run -- schema --federation > schema.federation.graphql` \
         and review the diff"
    );
}

#[test]
fn the_federated_sdl_keys_every_resource_links_federation_2_5_and_keeps_the_subscriptions() {
    let sdl = clinicstream::graphql::federation_sdl();
    for ty in ["Practice", "Provider", "Patient", "Appointment", "Payment", "Charge"] {
        assert!(sdl.contains(&format!("type {ty} @key(fields: \"id\") {{")), "{ty} is an entity keyed by id");
    }
    assert!(sdl.contains("extend schema @link(\n\turl: \"https://specs.apollo.dev/federation/v2.5\""));
    assert!(sdl.contains("type Subscription {") && sdl.contains("patientCreated("), "subscriptions are in the SDL");
    // The federation machinery is the gateway's to know, not part of the subgraph's SDL.
    assert!(!sdl.contains("_entities") && !sdl.contains("_service"));
    // And none of it leaks into the plain contract.
    let plain = clinicstream::graphql::sdl();
    assert!(!plain.contains("@key") && !plain.contains("_entities") && !plain.contains("_Any"));
}

#[test]
fn the_contract_names_are_present() {
    let sdl = clinicstream::graphql::sdl();
    for name in [
        "practices(",
        "practice(id",
        "provider(id",
        "patient(id",
        "patients(practiceId",
        "appointment(id",
        "appointments(practiceId",
        "payments(patientId",
        "events(practiceId",
        "apiKeys(practiceId",
        "createPractice(",
        "createProvider(",
        "createPatient(",
        "updatePatient(",
        "scheduleAppointment(",
        "rescheduleAppointment(",
        "cancelAppointment(",
        "completeAppointment(",
        "postCharge(",
        "postPayment(",
        "createApiKey(",
        "revokeApiKey(",
        "appointmentScheduled(",
        "appointmentRescheduled(",
        "appointmentCancelled(",
        "appointmentStartingSoon(",
        "patientCreated(",
        "paymentPosted(",
        "interface Event",
        "type AppointmentEvent implements Event",
        "type PatientEvent implements Event",
        "type PaymentEvent implements Event",
        "type ChargeEvent implements Event",
        "input PostPaymentInput",
        "type CreatedApiKey",
    ] {
        assert!(sdl.contains(name), "the contract needs {name}");
    }
}

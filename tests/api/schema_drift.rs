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

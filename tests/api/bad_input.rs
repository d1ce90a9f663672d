//! Bad input gets a clear error with a code, and changes nothing.

use serde_json::json;

use crate::helpers::{ADMIN_KEY, TestApp, code};
use crate::on_both_backends;
use crate::ws_client::{TRANSPORT_WS, WsClient};

on_both_backends!(
    invalid_values_are_bad_user_input_and_change_nothing,
    malformed_requests_get_the_protocol_answer,
    invalid_cursors_are_rejected
);

async fn invalid_values_are_bad_user_input_and_change_nothing(app: TestApp) {
    let f = app.fixture().await;
    let log = app.log(&f.practice).await;
    let bo = Some(f.backoffice.as_str());
    for (query, vars) in [
        (
            "mutation($p: ID!) { postPayment(input: {patientId: $p, amountCents: -5, method: CARD}) { id } }",
            json!({ "p": f.patient }),
        ),
        (
            "mutation($p: ID!) { postPayment(input: {patientId: $p, amountCents: 0, method: CARD}) { id } }",
            json!({ "p": f.patient }),
        ),
        (
            "mutation($p: ID!) { postCharge(input: {patientId: $p, amountCents: 1000000000, description: \"x\"}) { id } }",
            json!({ "p": f.patient }),
        ),
        (
            "mutation($p: ID!) { postCharge(input: {patientId: $p, amountCents: 100, description: \"  \"}) { id } }",
            json!({ "p": f.patient }),
        ),
        (
            "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"\", lastName: \"B\"}) { id } }",
            json!({ "p": f.practice }),
        ),
        (
            "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"A\", lastName: \"B\", email: \"not-an-email\"}) { id } }",
            json!({ "p": f.practice }),
        ),
        (
            "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"A\", lastName: \"B\", dateOfBirth: \"2999-01-01\"}) { id } }",
            json!({ "p": f.practice }),
        ),
        (
            "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"A\", lastName: \"B\", phone: \"call me\"}) { id } }",
            json!({ "p": f.practice }),
        ),
        (
            "mutation($p: ID!, $n: String!) { createPatient(input: {practiceId: $p, firstName: $n, lastName: \"B\"}) { id } }",
            json!({ "p": f.practice, "n": "x".repeat(10_000) }),
        ),
        (
            "mutation($pt: ID!, $pr: ID!) { scheduleAppointment(input: {patientId: $pt, providerId: $pr, startsAt: \"2030-01-01T10:00:00Z\", durationMinutes: 0}) { id } }",
            json!({ "pt": f.patient, "pr": f.provider }),
        ),
        (
            "mutation($pt: ID!, $pr: ID!) { scheduleAppointment(input: {patientId: $pt, providerId: $pr, startsAt: \"yesterday\", durationMinutes: 30}) { id } }",
            json!({ "pt": f.patient, "pr": f.provider }),
        ),
        (
            "mutation($p: ID!) { postPayment(input: {patientId: $p, amountCents: \"ten\", method: CARD}) { id } }",
            json!({ "p": f.patient }),
        ),
        (
            "mutation($p: ID!) { postPayment(input: {patientId: $p, amountCents: 10, method: BITCOIN}) { id } }",
            json!({ "p": f.patient }),
        ),
        (
            "query($p: ID!) { appointments(practiceId: $p, from: \"2030-01-02T00:00:00Z\", to: \"2030-01-01T00:00:00Z\") { edges { cursor } } }",
            json!({ "p": f.practice }),
        ),
        ("query($p: ID!) { patients(practiceId: $p, first: 100000) { edges { cursor } } }", json!({ "p": f.practice })),
    ] {
        let body = app.gql(bo, query, vars).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{query}: {body}");
    }
    for (query, vars) in [
        (
            "mutation { createPractice(input: {name: \"X\", timezone: \"Mars/Olympus\", currency: \"USD\"}) { id } }",
            json!({}),
        ),
        (
            "mutation { createPractice(input: {name: \"X\", timezone: \"UTC\", currency: \"dollars\"}) { id } }",
            json!({}),
        ),
    ] {
        assert_eq!(code(&app.gql(Some(ADMIN_KEY), query, vars).await), "BAD_USER_INPUT", "{query}");
    }
    for (query, vars) in [
        ("mutation { postPayment(input: {patientId: \"pat_nope\", amountCents: 10, method: CARD}) { id } }", json!({})),
        ("mutation { cancelAppointment(input: {id: \"apt_nope\"}) { id } }", json!({})),
        ("query { appointment(id: \"apt_nope\") { id } }", json!({})),
    ] {
        assert_eq!(code(&app.gql(bo, query, vars).await), "NOT_FOUND", "{query}");
    }
    assert_eq!(app.log(&f.practice).await, log, "nothing was appended");
    let balance = app
        .ok(&f.backoffice, "query($id: ID!) { patient(id: $id) { balanceCents } }", json!({ "id": f.patient }))
        .await;
    assert_eq!(balance["patient"]["balanceCents"], 0, "nothing was changed");
}

async fn malformed_requests_get_the_protocol_answer(app: TestApp) {
    let http = app.http();
    let post = |body: &'static str| {
        http.post(app.url("/graphql")).header("content-type", "application/json").bearer_auth(ADMIN_KEY).body(body)
    };
    assert_eq!(post("{not json").send().await.unwrap().status(), 400);
    assert_eq!(post("[1,2,3]").send().await.unwrap().status(), 400);
    let syntax: serde_json::Value = post(r#"{"query":"{ practices { "}"#).send().await.unwrap().json().await.unwrap();
    assert_eq!(code(&syntax), "BAD_USER_INPUT");
    let unknown: serde_json::Value = post(r#"{"query":"{ nope }"}"#).send().await.unwrap().json().await.unwrap();
    assert_eq!(code(&unknown), "BAD_USER_INPUT");
    let wrong_type =
        http.post(app.url("/graphql")).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(wrong_type.status(), 415);
    let huge = format!(r#"{{"query":"{{ __typename }}","variables":{{"x":"{}"}}}}"#, "a".repeat(2 * 1024 * 1024));
    // Its own client: the server drops a connection whose body it refused to read.
    let oversized = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), 413);
    let deep = format!("{{ {}__typename{} }}", "practices { edges { node { ".repeat(8), " } } }".repeat(8));
    let body = app.gql(Some(ADMIN_KEY), &deep, json!({})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "too deep: {body}");
    let wide = format!(
        "{{ {} }}",
        (0..1500).map(|i| format!("a{i}: practice(id: \"x\") {{ id }}")).collect::<Vec<_>>().join(" ")
    );
    let body = app.gql(Some(ADMIN_KEY), &wide, json!({})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "too complex: {body}");
}

async fn invalid_cursors_are_rejected(app: TestApp) {
    let a = app.fixture().await;
    let b = app.fixture().await;
    let b_cursor = app
        .ok(ADMIN_KEY, "query($p: ID!) { events(practiceId: $p) { edges { cursor } } }", json!({ "p": b.practice }))
        .await["events"]["edges"][0]["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let query = "query($p: ID!, $a: String) { events(practiceId: $p, after: $a) { edges { cursor } } }";
    let ahead = clinicstream::events::Cursor { practice_id: a.practice.clone(), seq: 9999 }.encode();
    for bad in ["garbage", "", "ZXYxOnByY194Ojk5OTk", &b_cursor, &ahead] {
        let body = app.gql(Some(&a.subscriber), query, json!({ "p": a.practice, "a": bad })).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{bad}: {body}");
    }
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &a.subscriber).await;
    for (i, bad) in ["garbage", b_cursor.as_str()].iter().enumerate() {
        let id = format!("c{i}");
        client
            .subscribe(
                &id,
                "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq } }",
                json!({ "p": a.practice, "a": bad }),
            )
            .await;
        let refused = client.recv().await.unwrap();
        assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
        assert_eq!(client.recv().await.unwrap()["type"], "complete");
    }
}

on_both_backends!(a_cursor_before_what_the_log_retains_is_expired);

async fn a_cursor_before_what_the_log_retains_is_expired(app: TestApp) {
    let f = app.fixture().await;
    for _ in 0..4 {
        app.post_payment(&f.backoffice, &f.patient, 1).await;
    }
    let cursor_at_1 = clinicstream::events::Cursor { practice_id: f.practice.clone(), seq: 1 }.encode();
    // Retention pruned seq 1..=3: resuming after seq 1 would skip 2 and 3 silently.
    app.prune_log_through(&f.practice, 3).await;
    let query = "query($p: ID!, $a: String) { events(practiceId: $p, after: $a) { edges { cursor } } }";
    let body = app.gql(Some(&f.subscriber), query, json!({ "p": f.practice, "a": cursor_at_1 })).await;
    assert_eq!(code(&body), "CURSOR_EXPIRED", "{body}");
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    client
        .subscribe(
            "x",
            "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq } }",
            json!({ "p": f.practice, "a": cursor_at_1 }),
        )
        .await;
    let refused = client.recv().await.unwrap();
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "CURSOR_EXPIRED", "{refused}");
    // Right at the edge of what is retained is fine.
    let cursor_at_3 = clinicstream::events::Cursor { practice_id: f.practice.clone(), seq: 3 }.encode();
    let body = app.gql(Some(&f.subscriber), query, json!({ "p": f.practice, "a": cursor_at_3 })).await;
    assert!(body.get("errors").is_none(), "{body}");
}

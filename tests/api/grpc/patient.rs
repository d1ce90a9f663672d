//! A PATIENT's gRPC stream (an access token from the real OpenID Provider in the
//! `authorization` metadata) carries only the events about that patient, with the
//! practice's cursors; another practice is NOT_FOUND for them too.

use serde_json::json;

use super::client::{Client, python};
use super::spawn_grpc_with;
use crate::helpers::Backend;
use crate::oidc::{Account, DEFAULT_AUDIENCE, Issuer, IssuerOptions};
use crate::sse::last_cursor;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patients_stream_holds_only_their_events() {
    let Some(python) = python() else { return };
    let Some(issuer) = Issuer::start(IssuerOptions::default()).await else { return };
    let url = issuer.issuer_url().to_string();
    let adjust = |c: &mut clinicstream::Config| {
        c.identity.oidc_issuer = Some(url);
        c.identity.jwt_audience = Some(DEFAULT_AUDIENCE.into());
    };
    let Some((app, grpc)) = spawn_grpc_with(Backend::Sqlite, None, adjust).await else { return };
    let (a, b) = (app.fixture().await, app.fixture().await);
    let other = app
        .ok(
            &a.backoffice,
            "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"Otto\", lastName: \"Other\"}) { id } }",
            json!({ "p": a.practice }),
        )
        .await["createPatient"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let account = Account::new("ann", "Patient Ann", "PATIENT").practice(&a.practice).patient(&a.patient);
    issuer.account(&account).await;
    let token = issuer.token("ann").await.access_token;

    let from_now = last_cursor(&app, &a.subscriber, &a.practice).await;
    let mut practice = Client::subscribe(&python, grpc, &a.subscriber, &a.practice, Some(&from_now), None).await;
    let mut ann = Client::subscribe(&python, grpc, &token, &a.practice, Some(&from_now), None).await;
    for patient in [&other, &a.patient, &other, &a.patient] {
        app.post_payment(&a.backoffice, patient, 100).await;
    }
    let mut all = Vec::new();
    for _ in 0..4 {
        all.push(practice.event().await);
    }
    for expected in [&all[1], &all[3]] {
        let event = ann.event().await;
        assert_eq!(event["cursor"], expected["cursor"], "the practice's cursors, their events only");
        assert_eq!(event["data"]["patient"]["id"], json!(a.patient));
    }
    assert!(ann.line_within(std::time::Duration::from_millis(400)).await.is_err(), "nothing of anyone else");
    let mut elsewhere = Client::subscribe(&python, grpc, &token, &b.practice, None, None).await;
    assert_eq!(elsewhere.status().await.0, "NOT_FOUND");
}

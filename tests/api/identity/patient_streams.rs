//! A patient's live doors: their `events` stream over websocket, SSE and multipart holds
//! their events only while another patient's payments happen, and resumes from the
//! practice's cursors; their subscriptions share executions with their own other sockets
//! but never with another patient's; they cancel their own future appointment, and no one
//! else's.

use serde_json::{Value, json};
use std::time::Duration;

use clinicstream::events::StreamTransport;

use super::issuer::TestIssuer;
use super::patient::World;
use crate::helpers::{Backend, code, spawn_app_with, until};
use crate::multipart_client::Parts;
use crate::replicas::{collect, subscriber};
use crate::sse_client::SseStream;
use crate::waits::open_subscriptions as subscriptions;
use crate::ws_client::{TRANSPORT_WS, WsClient};

const EVENTS: &str = "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq cursor type \
    ... on PaymentEvent { patient { id } } } }";
const CANCEL: &str = "mutation($id: ID!, $r: String, $k: String) { cancelAppointment(input: {id: $id, reason: $r, idempotencyKey: $k}) { id status cancellationReason } }";
/// Longer than an event takes to arrive once it is committed.
const QUIET: Duration = Duration::from_millis(400);

/// (seq, cursor, patient) of a result.
fn event_of(data: &Value) -> (i64, String, String) {
    let event = &data["events"];
    let seq = event["seq"].as_i64().unwrap_or_else(|| panic!("an event: {data}"));
    (seq, event["cursor"].as_str().unwrap().to_string(), event["patient"]["id"].as_str().unwrap_or("").to_string())
}

async fn ws_events(client: &mut WsClient, n: usize) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(event_of(&client.next_data("e").await["data"]));
    }
    assert!(client.recv_within(QUIET).await.is_none(), "nothing else arrives");
    out
}

async fn sse_events(stream: &mut SseStream, n: usize) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (id, body) = stream.next_data().await;
        let event = event_of(&body["data"]);
        assert_eq!(id.as_deref(), Some(event.1.as_str()), "the SSE id is the practice's cursor");
        out.push(event);
    }
    assert!(stream.next_within(QUIET).await.is_err(), "nothing else arrives");
    out
}

async fn multipart_events(parts: &mut Parts, n: usize) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(event_of(&parts.next_payload().await["payload"]["data"]));
    }
    assert!(tokio::time::timeout(QUIET, parts.next_payload()).await.is_err(), "nothing else arrives");
    out
}

async fn pay(w: &World, patient: &str) {
    let body = w.app.post_payment(&w.a.backoffice, patient, 100).await;
    assert!(body["errors"].is_null(), "{body}");
}

async fn a_patients_events_hold_only_theirs_on_every_door_and_resume_from_the_practices_cursors(backend: Backend) {
    let Some(w) = World::start(backend).await else { return };
    let (app, a) = (&w.app, &w.a);
    let token = w.patient_token("ann", &a.patient).await;
    let vars = json!({ "p": a.practice, "a": null });
    let mut practice = subscriber(app, &a.subscriber, &a.practice, None).await;
    let mut ws = WsClient::connect(app.addr, TRANSPORT_WS, &token).await;
    ws.subscribe("e", EVENTS, vars.clone()).await;
    let mut sse = SseStream::open(app, &token, EVENTS, vars.clone(), None).await;
    let mut multipart = Parts::open(app, &token, EVENTS, vars.clone()).await;
    let registered = || {
        subscriptions(app, StreamTransport::Websocket) == 2
            && subscriptions(app, StreamTransport::Sse) == 1
            && subscriptions(app, StreamTransport::Multipart) == 1
    };
    assert!(until(Duration::from_secs(10), registered).await, "every door subscribed");

    for patient in [&w.other, &a.patient, &w.other, &a.patient] {
        pay(&w, patient).await;
    }
    let all = collect(&mut practice, 4).await;
    let own: Vec<(i64, String, String)> =
        [&all[1], &all[3]].iter().map(|(seq, cursor)| (*seq, cursor.clone(), a.patient.clone())).collect();
    assert_eq!(ws_events(&mut ws, 2).await, own, "websocket");
    assert_eq!(sse_events(&mut sse, 2).await, own, "SSE");
    assert_eq!(multipart_events(&mut multipart, 2).await, own, "multipart");

    // Resuming after the practice's cursor of another patient's event: the patient's
    // events after it, on every door, and the `events` query pages from it the same way.
    let after = json!({ "p": a.practice, "a": all[0].1 });
    let mut ws = WsClient::connect(app.addr, TRANSPORT_WS, &token).await;
    ws.subscribe("e", EVENTS, after.clone()).await;
    assert_eq!(ws_events(&mut ws, 2).await, own, "websocket resumed");
    let mut sse = SseStream::open(app, &token, EVENTS, vars, Some(&all[0].1)).await;
    assert_eq!(sse_events(&mut sse, 2).await, own, "SSE resumed with Last-Event-ID");
    let mut multipart = Parts::open(app, &token, EVENTS, after).await;
    assert_eq!(multipart_events(&mut multipart, 2).await, own, "multipart resumed");
    let page = app
        .ok(
            &token,
            "query($p: ID!, $a: String) { events(practiceId: $p, after: $a) { edges { cursor node { seq } } } }",
            json!({ "p": a.practice, "a": all[0].1 }),
        )
        .await;
    let seqs: Vec<(i64, &str)> = page["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["node"]["seq"].as_i64().unwrap(), e["cursor"].as_str().unwrap()))
        .collect();
    assert_eq!(seqs, own.iter().map(|(seq, cursor, _)| (*seq, cursor.as_str())).collect::<Vec<_>>());
}

async fn a_patients_sockets_share_one_execution_and_two_patients_never_do(backend: Backend) {
    let Some(w) = World::start(backend).await else { return };
    let (app, a) = (&w.app, &w.a);
    let (ann, otto) = (w.patient_token("ann", &a.patient).await, w.patient_token("otto", &w.other).await);
    let mut sockets = Vec::new();
    for token in [&ann, &ann, &otto] {
        let mut client = WsClient::connect(app.addr, TRANSPORT_WS, token).await;
        client.subscribe("e", EVENTS, json!({ "p": a.practice, "a": null })).await;
        sockets.push(client);
    }
    let counters = &app.state().services.domain.counters;
    assert!(until(Duration::from_secs(10), || subscriptions(app, StreamTransport::Websocket) == 3).await);
    assert_eq!(counters.shared_operations.get(), 2, "one operation per patient");
    assert_eq!(counters.shared_renderers.get(), 1, "both patients' results rendered by one execution");
    pay(&w, &a.patient).await;
    for client in &mut sockets[..2] {
        assert_eq!(event_of(&client.next_data("e").await["data"]).2, a.patient);
    }
    assert!(sockets[2].recv_within(QUIET).await.is_none(), "another patient's payment never reaches Otto");
    assert_eq!(counters.shared_executions.get(), 1, "one execution for both of Ann's sockets");
    pay(&w, &w.other).await;
    assert_eq!(event_of(&sockets[2].next_data("e").await["data"]).2, w.other);
    for client in &mut sockets[..2] {
        assert!(client.recv_within(QUIET).await.is_none(), "Otto's payment never reaches Ann");
    }
    assert_eq!(counters.shared_executions.get(), 2, "Otto's operation ran once; Ann's did not run for it");
    drop(sockets);
    assert!(
        until(Duration::from_secs(10), || counters.shared_renderers.get() == 0).await,
        "the execution ends with them"
    );
}

async fn status(w: &World, appointment: &str) -> Value {
    let query = "query($id: ID!) { appointment(id: $id) { status cancellationReason } }";
    w.app.admin(query, json!({ "id": appointment })).await["data"]["appointment"].clone()
}

async fn a_patient_cancels_their_own_future_appointment_and_no_one_elses(backend: Backend) {
    let Some(w) = World::start(backend).await else { return };
    let a = &w.a;
    let (ann, otto) = (w.patient_token("ann", &a.patient).await, w.patient_token("otto", &w.other).await);
    let own = w.schedule(a, &a.patient, "2031-06-01T09:00:00Z", "Filling").await;
    let second = w.schedule(a, &a.patient, "2031-06-02T09:00:00Z", "Polish").await;
    let past = w.schedule(a, &a.patient, "2020-01-06T09:00:00Z", "Long ago").await;
    let others = w.schedule(a, &w.other, "2031-06-01T10:00:00Z", "Otto's crown").await;
    let scheduled = json!({ "status": "SCHEDULED", "cancellationReason": null });
    let cancel = |id: &str, reason: Option<&str>, key: Option<&str>| json!({ "id": id, "r": reason, "k": key });

    // Without a reason, another patient's, one that has started: refused, nothing changes.
    for reason in [None, Some("   ")] {
        let refused = w.app.gql(Some(&ann), CANCEL, cancel(&own, reason, None)).await;
        assert_eq!(code(&refused), "BAD_USER_INPUT", "{refused}");
    }
    let refused = w.app.gql(Some(&ann), CANCEL, cancel(&others, Some("Not mine"), None)).await;
    assert_eq!(code(&refused), "NOT_FOUND", "{refused}");
    assert!(!refused.to_string().contains("Otto"), "{refused}");
    let refused = w.app.gql(Some(&ann), CANCEL, cancel(&past, Some("Too late"), None)).await;
    assert_eq!(code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(status(&w, &others).await, scheduled);
    assert_eq!(status(&w, &past).await, scheduled);
    // Only a cancellation: rescheduling or completing their own is the practice's.
    for mutation in [
        "mutation($id: ID!) { rescheduleAppointment(input: {id: $id, startsAt: \"2031-07-01T09:00:00Z\"}) { id } }",
        "mutation($id: ID!) { completeAppointment(input: {id: $id}) { id } }",
    ] {
        assert_eq!(code(&w.app.gql(Some(&ann), mutation, json!({ "id": own })).await), "FORBIDDEN");
    }

    // Their own future appointment, with a reason: cancelled, and the practice is told why.
    let done = w.app.ok(&ann, CANCEL, cancel(&own, Some("I have the flu"), None)).await;
    assert_eq!(done["cancelAppointment"]["status"], "CANCELLED");
    let cancelled = json!({ "status": "CANCELLED", "cancellationReason": "I have the flu" });
    assert_eq!(status(&w, &own).await, cancelled);
    let last = w.app.log(&a.practice).await.pop().unwrap();
    assert_eq!(last.1, "APPOINTMENT_CANCELLED");
    let again = w.app.gql(Some(&ann), CANCEL, cancel(&own, Some("I have the flu"), None)).await;
    assert_eq!(code(&again), "CONFLICT", "{again}");

    // A patient's idempotency keys are their own: the same key and request from another
    // patient neither replays Ann's answer nor cancels anything.
    let request = cancel(&second, Some("Away"), Some("cancel-1"));
    assert_eq!(w.app.ok(&ann, CANCEL, request.clone()).await["cancelAppointment"]["status"], "CANCELLED");
    let replayed = w.app.ok(&ann, CANCEL, request.clone()).await;
    assert_eq!(replayed["cancelAppointment"]["id"], second.as_str(), "Ann's retry replays her answer");
    let foreign = w.app.gql(Some(&otto), CANCEL, request).await;
    assert_eq!(code(&foreign), "NOT_FOUND", "{foreign}");
}

/// `name::sqlite` and `name::postgres` for each async fn `name(backend)` of this module.
macro_rules! per_backend {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use crate::helpers::Backend;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(Backend::Postgres).await;
                }
            }
        )+
    };
}

per_backend!(
    a_patients_events_hold_only_theirs_on_every_door_and_resume_from_the_practices_cursors,
    a_patients_sockets_share_one_execution_and_two_patients_never_do,
    a_patient_cancels_their_own_future_appointment_and_no_one_elses
);

/// A hand-made token (the claims a real issuer would never send together) pairing the
/// practice with another practice's patient, or with no patient at all there: it sees no
/// patient's records, in either practice.
#[tokio::test]
async fn a_token_naming_another_practices_patient_sees_no_one() {
    let issuer = TestIssuer::start().await;
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| issuer.configure(c)).await else { return };
    let (a, b) = (app.fixture().await, app.fixture().await);
    for token in [issuer.patient(&a.practice, &b.patient), issuer.patient(&a.practice, "pat_nobody")] {
        for patient in [&a.patient, &b.patient] {
            let body =
                app.gql(Some(&token), "query($id: ID!) { patient(id: $id) { id } }", json!({ "id": patient })).await;
            assert_eq!(code(&body), "NOT_FOUND", "{body}");
        }
        let listed = app
            .ok(
                &token,
                "query($p: ID!) { patients(practiceId: $p) { edges { node { id } } } }",
                json!({ "p": a.practice }),
            )
            .await;
        assert_eq!(listed["patients"]["edges"], json!([]));
        let events = app
            .ok(&token, "query($p: ID!) { events(practiceId: $p) { edges { cursor } } }", json!({ "p": a.practice }))
            .await;
        assert_eq!(events["events"]["edges"], json!([]));
    }
}

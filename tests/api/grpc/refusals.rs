//! Every refusal of the gRPC door is a status code before any event: no or a bad key,
//! another practice, malformed, unknown and oversized input, an expired cursor, a key
//! past its connection cap.

use chrono::Utc;
use std::sync::Arc;

use clinicstream::clock::ManualClock;
use clinicstream::config::RetentionArgs;
use clinicstream::events::Cursor;
use clinicstream::retention::prune;

use super::client::{Client, python};
use super::{spawn_grpc, spawn_grpc_with};
use crate::helpers::Backend;

/// One refused request: what it is, as whom, what it asks, the status and a word of its message.
struct Case<'a> {
    what: &'a str,
    key: &'a str,
    practice: &'a str,
    after: Option<&'a str>,
    types: Option<&'a str>,
    expected: &'a str,
    says: &'a str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_the_grpc_status_codes() {
    let Some(python) = python() else { return };
    let Some((app, grpc)) = spawn_grpc(Backend::Sqlite, None).await else { return };
    let (a, b) = (app.fixture().await, app.fixture().await);
    let other_cursor = Cursor { practice_id: b.practice.clone(), seq: 1 }.encode();
    let long_id = "p".repeat(300);
    let oversized = "p".repeat(20 * 1024);
    let case =
        |what, key, practice, after, types, expected, says| Case { what, key, practice, after, types, expected, says };
    let cases = [
        case("no key", "", &a.practice, None, None, "UNAUTHENTICATED", "authorization"),
        case("a bad key", "cs_not_a_key", &a.practice, None, None, "UNAUTHENTICATED", "authorization"),
        case("another practice", &a.subscriber, &b.practice, None, None, "NOT_FOUND", "practice not found"),
        case(
            "a malformed cursor",
            &a.subscriber,
            &a.practice,
            Some("not-a-cursor"),
            None,
            "INVALID_ARGUMENT",
            "cursor",
        ),
        case(
            "another practice's cursor",
            &a.subscriber,
            &a.practice,
            Some(&other_cursor),
            None,
            "INVALID_ARGUMENT",
            "another practice",
        ),
        case(
            "an unknown type",
            &a.subscriber,
            &a.practice,
            None,
            Some("PAYMENT_POSTED,NOPE"),
            "INVALID_ARGUMENT",
            "NOPE",
        ),
        case("an empty practice id", &a.subscriber, "", None, None, "INVALID_ARGUMENT", "practiceId"),
        case("a too long practice id", &a.subscriber, &long_id, None, None, "INVALID_ARGUMENT", "practiceId"),
        case("an oversized request", &a.subscriber, &oversized, None, None, "OUT_OF_RANGE", "message length too large"),
    ];
    for Case { what, key, practice, after, types, expected, says } in cases {
        let mut client = Client::subscribe(&python, grpc, key, practice, after, types).await;
        let (code, details) = client.status().await;
        assert_eq!(code, expected, "{what}: {details}");
        assert!(details.contains(says), "{what}: {details:?} says {says:?}");
    }
    // An admin asking for a practice that does not exist: NOT_FOUND too.
    let mut client = Client::subscribe(&python, grpc, crate::helpers::ADMIN_KEY, "prc_none", None, None).await;
    assert_eq!(client.status().await.0, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_cursor_is_out_of_range_and_says_so() {
    let Some(python) = python() else { return };
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let Some((app, grpc)) = spawn_grpc(Backend::Sqlite, Some(clock.clone())).await else { return };
    let f = app.fixture().await;
    for cents in [100, 200] {
        app.post_payment(&f.backoffice, &f.patient, cents).await;
    }
    clock.advance(chrono::Duration::hours(2));
    app.post_payment(&f.backoffice, &f.patient, 300).await;
    let hour = std::time::Duration::from_secs(3600);
    let retention = RetentionArgs {
        event_retention: hour,
        webhook_retention: hour,
        idempotency_retention: hour,
        audit_retention: hour,
    };
    let pruned = prune(&app.state().services.domain, &retention).await.unwrap();
    assert_eq!(pruned.events, 3, "seq 1..=3 are older than the retention");
    let expired = Cursor { practice_id: f.practice.clone(), seq: 1 }.encode();
    let mut client = Client::subscribe(&python, grpc, &f.subscriber, &f.practice, Some(&expired), None).await;
    let (code, details) = client.status().await;
    assert_eq!(code, "OUT_OF_RANGE", "{details}");
    assert!(details.contains("CURSOR_EXPIRED") && details.contains("expired"), "{details}");
    // Inside the retention it resumes: seq 4 is the one kept.
    let kept = Cursor { practice_id: f.practice.clone(), seq: 3 }.encode();
    let mut client = Client::subscribe(&python, grpc, &f.subscriber, &f.practice, Some(&kept), None).await;
    assert_eq!(client.event().await["seq"], 4);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_past_its_connection_cap_is_resource_exhausted() {
    let Some(python) = python() else { return };
    let adjust = |config: &mut clinicstream::Config| config.max_connections_per_key = 1;
    let Some((app, grpc)) = spawn_grpc_with(Backend::Sqlite, None, adjust).await else { return };
    let f = app.fixture().await;
    let from_now = crate::sse::last_cursor(&app, &f.subscriber, &f.practice).await;
    let mut first = Client::subscribe(&python, grpc, &f.subscriber, &f.practice, Some(&from_now), None).await;
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    assert_eq!(first.event().await["seq"], 2, "the first stream is open");
    let mut second = Client::subscribe(&python, grpc, &f.subscriber, &f.practice, None, None).await;
    let (code, details) = second.status().await;
    assert_eq!(code, "RESOURCE_EXHAUSTED", "{details}");
    assert!(details.contains("1 connections"), "{details}");
    first.close().await;
}

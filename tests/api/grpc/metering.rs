//! A gRPC stream is metered and audited like an SSE one, under its own door: usage counts
//! its deliveries under GRPC, the audit trail has its SUBSCRIBE, the patients it was sent
//! (DELIVER) and its UNSUBSCRIBE when the client goes.

use serde_json::{Value, json};

use super::client::{Client, python};
use super::spawn_grpc_with;
use crate::helpers::Backend;
use crate::sse::last_cursor;
use crate::usage_audit::{audit_until, fast_flush, usage_until};

fn rows<'a>(log: &'a [Value], action: &str) -> Vec<&'a Value> {
    log.iter().filter(|r| r["action"] == action && r["transport"] == "GRPC").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_stream_is_metered_and_audited_under_its_door() {
    let Some(python) = python() else { return };
    let Some((app, grpc)) = spawn_grpc_with(Backend::Sqlite, None, fast_flush).await else { return };
    let f = app.fixture().await;
    let from_now = last_cursor(&app, &f.subscriber, &f.practice).await;
    let mut stream = Client::subscribe(&python, grpc, &f.subscriber, &f.practice, Some(&from_now), None).await;
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    app.post_payment(&f.backoffice, &f.patient, 200).await;
    assert_eq!(stream.event().await["seq"], 2);
    assert_eq!(stream.event().await["seq"], 3);
    let usage = usage_until(&app, &f.practice, |u| {
        u["deliveriesByTransport"].as_array().is_some_and(|t| t.iter().any(|c| c["transport"] == "GRPC"))
    })
    .await;
    assert_eq!(usage["deliveriesByTransport"], json!([{ "transport": "GRPC", "count": 2 }]), "{usage:#}");
    stream.close().await;
    let log = audit_until(&app, &f.practice, |log| {
        ["SUBSCRIBE", "DELIVER", "UNSUBSCRIBE"].iter().all(|action| !rows(log, action).is_empty())
    })
    .await;
    let delivered: Vec<_> =
        rows(&log, "DELIVER").iter().flat_map(|r| r["patientIds"].as_array().unwrap().clone()).collect();
    assert!(delivered.contains(&json!(f.patient)), "the patient's events were delivered by GRPC: {log:#?}");
}

/// A reader that stops reading: its events stop at its byte-bounded queue (a bound of 256
/// bytes here, and a 1 KiB HTTP/2 window on the client), the hub marks it lagging, and when
/// it reads again it gets every event once, in order, caught up from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_catches_up_from_the_log_with_nothing_lost() {
    let Some(python) = python() else { return };
    let adjust = |c: &mut clinicstream::Config| c.outbound_max_bytes = 256;
    let Some((app, grpc)) = spawn_grpc_with(Backend::Sqlite, None, adjust).await else { return };
    let f = app.fixture().await;
    let from_now = last_cursor(&app, &f.subscriber, &f.practice).await;
    let mut slow = Client::slow(&python, grpc, &f.subscriber, &f.practice, &from_now, (3.0, 1024)).await;
    let writes = (0..40).map(|i| app.post_payment(&f.backoffice, &f.patient, 100 + i));
    for body in futures_util::future::join_all(writes).await {
        assert!(body.get("errors").is_none(), "{body}");
    }
    let mut seqs = Vec::new();
    for _ in 0..40 {
        seqs.push(slow.event().await["seq"].as_i64().unwrap());
    }
    assert_eq!(seqs, (2..=41).collect::<Vec<_>>(), "every event once, in order");
    let counters = &app.state().services.domain.counters;
    assert!(counters.lag_catch_ups.get() > 0, "the reader fell past its bound and caught up from the log");
    slow.close().await;
}

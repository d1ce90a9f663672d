//! `maxDeliveriesPerDay` on the bridge door: over it, the practice's cursor stops (nothing
//! is published, nothing skipped); once the quota is raised, the held-back events reach
//! the broker in order, each once.

use serde_json::json;
use std::time::Duration;

use super::brokers::{SHARED_NATS, shared_nats, unique};
use super::consumers::{Door, distinct, read_stream, verify, wait_for};
use super::support::{delete_stream, expected, fast, pay};
use crate::helpers::{ADMIN_KEY, Backend, spawn_app_with};

const SET: &str = "mutation($i: SetPracticeQuotaInput!) { setPracticeQuota(input: $i) { maxDeliveriesPerDay } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_over_the_daily_delivery_quota_holds_back_and_resumes_in_order_once_it_is_raised() {
    if !shared_nats() {
        return;
    }
    let (stream, prefix) = (unique("CSTEST_"), unique("cstest"));
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        fast(c);
        c.bridges.nats_url = Some(SHARED_NATS.into());
        c.bridges.nats_stream = stream.clone();
        c.bridges.nats_prefix = prefix.clone();
    })
    .await
    else {
        return;
    };
    let f = app.fixture().await;
    let within = Duration::from_secs(30);
    // PATIENT_CREATED went out before there was a quota (uncounted).
    assert_eq!(wait_for(within, 1, async || distinct(&read_stream(SHARED_NATS, &stream).await)).await, 1);
    let quota = |n: i64| json!({ "i": { "practiceId": f.practice, "maxDeliveriesPerDay": n } });
    app.ok(ADMIN_KEY, SET, quota(3)).await;
    // The replica's quota cache holds the new quota before the payments go in.
    let limits = &app.state().services.domain.limits;
    let cached = async || limits.quota(&f.practice).await.max_deliveries_per_day;
    crate::helpers::eventually(within, cached, |max| *max == Some(3)).await.expect("the replica reads the quota");

    pay(&app, &f.backoffice, &f.patient, 5).await;
    assert_eq!(wait_for(within, 4, async || distinct(&read_stream(SHARED_NATS, &stream).await)).await, 4);
    // timing: a negative check; the held-back payments must not go out meanwhile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = read_stream(SHARED_NATS, &stream).await;
    assert_eq!(distinct(&held), 4, "three of the five payments went out, the rest are held back");
    let used = app
        .ok(
            ADMIN_KEY,
            "query($p: ID!) { practice(id: $p) { quota { use { deliveriesToday } } } }",
            json!({ "p": f.practice }),
        )
        .await;
    assert_eq!(used["practice"]["quota"]["use"]["deliveriesToday"], 3, "{used}");

    app.ok(ADMIN_KEY, SET, quota(100)).await;
    let want = expected(&app, &[&f.practice], None).await;
    assert_eq!(wait_for(within, 6, async || distinct(&read_stream(SHARED_NATS, &stream).await)).await, 6);
    let all = read_stream(SHARED_NATS, &stream).await;
    assert_eq!(verify(&all, Door::Nats, &prefix, &want), 0, "each event once, in seq order");
    assert_eq!(all.len(), 6);
    delete_stream(SHARED_NATS, &stream).await;
}

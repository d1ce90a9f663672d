//! A storm of callers that finds a practice's cached quota stale reads it from the
//! database once, not once each; and when that read fails, the callers that waited for it
//! answer with what they had instead of each trying again.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::set;
use crate::helpers::{Backend, spawn_app};
use clinicstream::limits::Limits;

const CALLERS: usize = 500;

/// `Limits` of their own over the app's database, and how many quota reads they sent.
fn counted_limits(app: &crate::helpers::TestApp) -> (Arc<Limits>, Arc<AtomicUsize>) {
    let reads = Arc::new(AtomicUsize::new(0));
    let mut db = app.state().services.domain.db.clone();
    let counted = reads.clone();
    db.set_metric_callback(move |info| {
        if info.statement.sql.contains("practice_quota") {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let clock = app.state().services.domain.clock.clone();
    (Arc::new(Limits::local(1_000_000, 1_000_000, db, clock)), reads)
}

async fn storm(limits: &Arc<Limits>, practice: &str) -> Vec<Option<i64>> {
    let callers = (0..CALLERS).map(|_| {
        let (limits, practice) = (limits.clone(), practice.to_string());
        tokio::spawn(async move { limits.quota(&practice).await.max_subscriptions })
    });
    let mut seen = Vec::new();
    for caller in callers.collect::<Vec<_>>() {
        seen.push(caller.await.expect("a caller"));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_callers_reads_a_stale_quota_once_and_a_failed_read_is_not_repeated_by_each() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let body = set(&app, json!({ "practiceId": f.practice, "maxSubscriptions": 7 })).await;
    assert_eq!(body["data"]["setPracticeQuota"]["maxSubscriptions"], 7, "{body}");

    let (limits, reads) = counted_limits(&app);
    let seen = storm(&limits, &f.practice).await;
    assert!(seen.iter().all(|max| *max == Some(7)), "every caller gets the stored quota: {seen:?}");
    assert_eq!(reads.load(Ordering::SeqCst), 1, "{CALLERS} callers at once, one read");

    // A second later the cache is stale: again one read for the lot.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    storm(&limits, &f.practice).await;
    assert_eq!(reads.load(Ordering::SeqCst), 2, "a stale quota is read again, once");

    // The read fails (the table is gone): the callers that waited answer with the quota
    // they had, and do not each try again.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let db = &app.state().services.domain.db;
    sea_orm::ConnectionTrait::execute_unprepared(db, "ALTER TABLE practice_quotas RENAME TO practice_quotas_gone")
        .await
        .expect("rename the table");
    let seen = storm(&limits, &f.practice).await;
    assert!(seen.iter().all(|max| *max == Some(7)), "a failed read refuses nobody: {seen:?}");
    // Callers that came after a failed read ended try once more (one read per such wave,
    // however many wait in it); before, each of the 500 sent its own.
    let failed = reads.load(Ordering::SeqCst) - 2;
    assert!((1..CALLERS / 10).contains(&failed), "{failed} failed reads for {CALLERS} callers");
}

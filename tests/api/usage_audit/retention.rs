//! AUDIT_RETENTION: the pruning job deletes audit rows older than the retention, and only
//! those (time is a `ManualClock`; flushes and rounds are run directly).

use chrono::Utc;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

use clinicstream::clock::ManualClock;
use clinicstream::config::RetentionArgs;
use clinicstream::retention::prune;

use super::audit_log;
use crate::helpers::{ADMIN_KEY, Backend, fresh_db, spawn_replica};

const READ: &str = "query($id: ID!) { patient(id: $id) { id } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rows_past_the_retention_are_pruned_sqlite() {
    audit_rows_past_the_retention_are_pruned(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rows_past_the_retention_are_pruned_postgres() {
    audit_rows_past_the_retention_are_pruned(Backend::Postgres).await;
}

async fn audit_rows_past_the_retention_are_pruned(backend: Backend) {
    let Some(db) = fresh_db(backend).await else { return };
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_replica(&db, clock.clone()).await;
    let services = app.state().services.clone();
    let flush = || clinicstream::audit::AuditStore::new(services.domain.db.clone(), services.audit.clone());
    let f = app.fixture().await;
    app.ok(&f.backoffice, READ, json!({ "id": f.patient })).await;
    flush().flush_now().await.unwrap();
    clock.advance(chrono::Duration::hours(2));
    app.ok(&f.backoffice, READ, json!({ "id": f.patient })).await;
    flush().flush_now().await.unwrap();
    assert_eq!(audit_log(&app, ADMIN_KEY, &f.practice, None).await.len(), 3, "createPatient and two reads");

    // The default (six years) keeps everything.
    let default = clinicstream::Config::with_database(&db.url).retention;
    assert_eq!(default.audit_retention, Duration::from_secs(2196 * 86_400));
    assert_eq!(prune(&services.domain, &default).await.unwrap().audit_entries, 0);

    let hour = Duration::from_secs(3600);
    let one_hour = RetentionArgs { audit_retention: hour, ..(*default).clone() };
    assert_eq!(prune(&services.domain, &one_hour).await.unwrap().audit_entries, 2, "the two rows of two hours ago");
    let kept = audit_log(&app, ADMIN_KEY, &f.practice, None).await;
    assert_eq!(kept.len(), 1, "{kept:#?}");
    assert_eq!(kept[0]["action"], "READ");
    assert_eq!(prune(&services.domain, &one_hour).await.unwrap().audit_entries, 0, "nothing more to prune");
}

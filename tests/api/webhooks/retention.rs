//! Webhook history is bounded: finished deliveries (and their attempts) older than
//! `WEBHOOK_RETENTION` are pruned; a delivery still being retried is kept, whatever its age.

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use clinicstream::clock::ManualClock;
use clinicstream::config::RetentionArgs;
use clinicstream::db::entities::webhook_attempt;
use clinicstream::retention::prune;

use super::receiver::Receiver;
use super::support::{create_endpoint, deliveries, fast, pay, wait_deliveries};
use crate::helpers::TestApp;
use crate::webhook_tests;

webhook_tests!(slow_retries => finished_deliveries_older_than_the_retention_are_pruned_pending_ones_kept);

/// A failed attempt is retried only after a minute: the delivery stays pending.
fn slow_retries(config: &mut clinicstream::Config) {
    fast(config);
    config.webhooks.retry_schedule = "60s".parse().unwrap();
}

async fn finished_deliveries_older_than_the_retention_are_pruned_pending_ones_kept(app: TestApp) {
    let f = app.fixture().await;
    let mut receiver = Receiver::start().await;
    let (endpoint, _) =
        create_endpoint(&app, &f.practice_admin, &f.practice, &receiver.url("/hook"), json!(["PAYMENT_POSTED"])).await;
    pay(&app, &f.backoffice, &f.patient, 3).await;
    let done = wait_deliveries(&app, &f.practice_admin, &endpoint, Duration::from_secs(15), |d| {
        d.len() == 3 && d.iter().all(|d| d["status"] == "SUCCEEDED")
    })
    .await;
    receiver.stop();
    pay(&app, &f.backoffice, &f.patient, 1).await;
    wait_deliveries(&app, &f.practice_admin, &endpoint, Duration::from_secs(15), |d| {
        d.len() == 4 && d[3]["attemptCount"].as_i64() >= Some(1)
    })
    .await;
    // The pruning round runs on a clock 1.1 s ahead: past the retention, without waiting.
    let mut later = app.state().services.domain.clone();
    later.clock = Arc::new(ManualClock::new(Utc::now() + chrono::Duration::milliseconds(1100)));

    let long = Duration::from_secs(10 * 365 * 86_400);
    let settings = RetentionArgs {
        event_retention: long,
        webhook_retention: Duration::from_secs(1),
        idempotency_retention: long,
        audit_retention: long,
    };
    let pruned = prune(&later, &settings).await.expect("a pruning round");
    assert_eq!((pruned.deliveries, pruned.events), (3, 0));
    let left = deliveries(&app, &f.practice_admin, &endpoint).await;
    assert_eq!(left.len(), 1, "{left:#?}");
    assert_eq!(left[0]["status"], "PENDING", "the delivery being retried is kept");
    let ids: Vec<&str> = done.iter().map(|d| d["id"].as_str().unwrap()).collect();
    let attempts = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.is_in(ids))
        .count(&app.state().services.domain.db)
        .await
        .unwrap();
    assert_eq!(attempts, 0, "the pruned deliveries' attempts went with them");
}

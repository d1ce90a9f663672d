//! The pipelined publisher: a burst goes out complete and in seq order per
//! practice, and what Redis does not take is counted as failed (left to the relay).
//! Watched on the wire: a plain Redis subscriber on the practice's channel.

use clinicstream::config::DbArgs;
use clinicstream::events::{Counters, EventBus, Payload, RedisBus, RedisSettings, RelaySettings, StoredEvent};
use clinicstream::vocab::{EventType, Patient};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::redis_server;

fn event(practice: &str, seq: i64) -> Arc<StoredEvent> {
    let patient: Patient = serde_json::from_value(serde_json::json!({
        "id": "pat_1", "practiceId": practice, "firstName": "Ada", "lastName": "Lovelace",
        "email": null, "phone": null, "dateOfBirth": null, "balanceCents": 0,
        "createdAt": "2026-01-01T00:00:00Z",
    }))
    .unwrap();
    Arc::new(StoredEvent {
        practice_id: practice.to_string(),
        seq,
        event_type: EventType::PatientUpdated,
        occurred_at: chrono::Utc::now(),
        payload: Payload::Patient { patient: Arc::new(patient) },
        trace: None,
    })
}

async fn bus(url: &str, prefix: &str) -> (RedisBus, Arc<Counters>, CancellationToken, TaskTracker) {
    let (bus, counters, shutdown, tracker, _) = bus_on_db(url, prefix).await;
    (bus, counters, shutdown, tracker)
}

/// The bus and its database (where the outbox is).
async fn bus_on_db(
    url: &str,
    prefix: &str,
) -> (RedisBus, Arc<Counters>, CancellationToken, TaskTracker, sea_orm::DatabaseConnection) {
    let db = clinicstream::db::connect(&DbArgs {
        database_url: "sqlite::memory:".into(),
        db_max_connections: 1,
        db_acquire_timeout: std::time::Duration::from_secs(30),
    })
    .await
    .unwrap();
    let counters = Arc::new(Counters::default());
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let relay = RelaySettings { interval: Duration::from_secs(3600), grace: Duration::from_secs(3600) };
    let settings = RedisSettings {
        url: url.to_string(),
        prefix: prefix.to_string(),
        capacity: 64,
        relay,
        publish_batch: clinicstream::events::MAX_PUBLISH_BATCH,
    };
    let bus = RedisBus::start(settings, db.clone(), counters.clone(), shutdown.clone(), &tracker).unwrap();
    (bus, counters, shutdown, tracker, db)
}

async fn until(what: &str, check: impl Fn() -> bool) {
    assert!(crate::helpers::until(Duration::from_secs(20), check).await, "timed out waiting for {what}");
}

#[tokio::test]
async fn a_burst_of_500_events_per_practice_goes_out_complete_and_in_order() {
    let Some(url) = redis_server::shared() else { return };
    let prefix = format!("cs-test-{}", uuid::Uuid::now_v7().simple());
    let practices = ["prc_a", "prc_b"];
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    for p in practices {
        pubsub.subscribe(format!("{prefix}:practice:{{{p}}}")).await.unwrap();
    }
    let (bus, counters, shutdown, tracker) = bus(&url, &prefix).await;
    // Queued all at once, interleaved: the publisher sends them in batches.
    for seq in 1..=500 {
        for p in practices {
            bus.publish(event(p, seq));
        }
    }
    let mut seen: std::collections::HashMap<String, Vec<i64>> = Default::default();
    let mut messages = pubsub.on_message();
    for _ in 0..1000 {
        let message = tokio::time::timeout(Duration::from_secs(20), messages.next())
            .await
            .expect("all 1,000 events within 20 s")
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(message.get_payload_bytes()).unwrap();
        seen.entry(body["p"].as_str().unwrap().to_string()).or_default().push(body["s"].as_i64().unwrap());
    }
    let expected: Vec<i64> = (1..=500).collect();
    for p in practices {
        assert_eq!(seen[p], expected, "{p}: every seq once, in order");
    }
    until("published = 1000", || counters.published.get() == 1000).await;
    assert_eq!(counters.publish_failures.get(), 0);
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

#[tokio::test]
async fn events_redis_does_not_take_are_counted_as_failures_not_published() {
    // A port nobody listens on: every pipeline fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("redis://127.0.0.1:{port}");
    let (bus, counters, shutdown, tracker) = bus(&url, "cs-test-dead").await;
    for seq in 1..=300 {
        bus.publish(event("prc_a", seq));
    }
    until("300 failures", || counters.publish_failures.get() == 300).await;
    assert_eq!(counters.published.get(), 0);
    // Shutdown still drains what is queued after it (counted, not lost silently).
    for seq in 301..=310 {
        bus.publish(event("prc_a", seq));
    }
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    assert_eq!(counters.publish_failures.get() + counters.published.get(), 310);
}

#[tokio::test]
async fn published_events_leave_the_outbox_and_only_they_do() {
    use clinicstream::db::entities::outbox;
    use sea_orm::{EntityTrait, QueryOrder};
    let Some(url) = redis_server::shared() else { return };
    let prefix = format!("cs-test-{}", uuid::Uuid::now_v7().simple());
    let (bus, counters, shutdown, tracker, db) = bus_on_db(&url, &prefix).await;
    let practices = ["prc_a", "prc_b", "prc_c"];
    // Rows as the writer records them with the events; prc_b's seq 7 and prc_c's seq 300
    // are never published and must stay for the relay.
    let recorded: Vec<StoredEvent> = (1..=300).flat_map(|seq| practices.map(|p| (*event(p, seq)).clone())).collect();
    clinicstream::events::outbox::record_many(&db, &recorded, 0).await.unwrap();
    for event in recorded.iter().filter(|e| !matches!((e.practice_id.as_str(), e.seq), ("prc_b", 7) | ("prc_c", 300))) {
        bus.publish(Arc::new(event.clone()));
    }
    until("published = 898", || counters.published.get() == 898).await;
    let mut left = Vec::new();
    for _ in 0..200 {
        left = outbox::Entity::find().order_by_asc(outbox::Column::PracticeId).all(&db).await.unwrap();
        if left.len() <= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left: Vec<(String, i64)> = left.into_iter().map(|row| (row.practice_id, row.seq)).collect();
    assert_eq!(left, [("prc_b".to_string(), 7), ("prc_c".to_string(), 300)], "only the unpublished rows stay");
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

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
    let bus = RedisBus::start(settings, db, counters.clone(), shutdown.clone(), &tracker).unwrap();
    (bus, counters, shutdown, tracker)
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

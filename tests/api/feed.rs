//! The feed under stress: a subscriber that falls behind the bus, and events published out
//! of seq order, still yield every event once, in order (repaired from the log).

use futures_util::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

use clinicstream::events::{Feed, FeedFilter, MemoryBus, SharedBus, StoredEvent, log};

use crate::helpers::{Backend, TestApp, spawn_app_with};

async fn small_bus_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |config| config.bus.bus_capacity = 16).await
}

async fn a_lagging_subscriber_catches_up_from_the_log(app: TestApp) {
    let f = app.fixture().await;
    let services = &app.state().services.domain;
    let feed = Feed::open(&services.db, &services.bus, &services.counters, &f.practice, None, FeedFilter::default())
        .await
        .unwrap();
    let mut stream = Box::pin(feed.into_stream());
    // Nobody polls the feed while 100 events go by a bus that buffers 16.
    for _ in 0..100 {
        app.post_payment(&f.backoffice, &f.patient, 1).await;
    }
    let mut seqs = Vec::new();
    while seqs.len() < 100 {
        let event =
            tokio::time::timeout(std::time::Duration::from_secs(5), stream.next()).await.unwrap().unwrap().unwrap();
        seqs.push(event.seq);
    }
    assert_eq!(seqs, (2..=101).collect::<Vec<_>>());
}

async fn events_published_out_of_order_are_delivered_in_order(app: TestApp) {
    let f = app.fixture().await;
    for _ in 0..3 {
        app.post_payment(&f.backoffice, &f.patient, 1).await;
    }
    let db = &app.state().services.domain.db;
    let stored: Vec<StoredEvent> = log::read_range(db, &f.practice, 1, None, None, 10).await.unwrap();
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 4]);
    // A bus of our own, on which we publish 4, 3, 2 after the feed starts at seq 1.
    let bus: SharedBus = Arc::new(MemoryBus::new(64));
    let cursor = clinicstream::events::Cursor { practice_id: f.practice.clone(), seq: 1 }.encode();
    let counters = app.state().services.domain.counters.clone();
    let feed = Feed::open(db, &bus, &counters, &f.practice, Some(&cursor), FeedFilter::default()).await.unwrap();
    let mut stream = Box::pin(feed.into_stream());
    // The replay from the cursor already yields 2, 3, 4 from the log...
    let mut seqs = Vec::new();
    for _ in 0..3 {
        seqs.push(stream.next().await.unwrap().unwrap().seq);
    }
    for event in stored.iter().rev() {
        bus.publish(Arc::new(event.clone()));
    }
    // ...and the late, reordered live copies are dropped as duplicates.
    app.post_payment(&f.backoffice, &f.patient, 1).await;
    let fifth = log::read_range(db, &f.practice, 4, None, None, 10).await.unwrap().remove(0);
    bus.publish(Arc::new(fifth));
    seqs.push(stream.next().await.unwrap().unwrap().seq);
    assert_eq!(seqs, [2, 3, 4, 5]);

    // A feed that starts live and sees seq jump fills the gap from the log first.
    let live_bus: SharedBus = Arc::new(MemoryBus::new(64));
    let mut cursor_1 = Box::pin(
        Feed::open(
            db,
            &live_bus,
            &counters,
            &f.practice,
            Some(&clinicstream::events::Cursor { practice_id: f.practice.clone(), seq: 5 }.encode()),
            FeedFilter::default(),
        )
        .await
        .unwrap()
        .into_stream(),
    );
    for _ in 0..3 {
        app.post_payment(&f.backoffice, &f.patient, 1).await;
    }
    let newest = log::read_range(db, &f.practice, 7, None, None, 10).await.unwrap().remove(0);
    assert_eq!(newest.seq, 8);
    // Only seq 8 is published (6 and 7 "lost" on the way): the feed still yields 6, 7, 8.
    live_bus.publish(Arc::new(newest));
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(cursor_1.next().await.unwrap().unwrap().seq);
    }
    assert_eq!(got, [6, 7, 8]);

    // Live events published out of order close together are put back in order without
    // reading the log: the held event waits for the missing one.
    let reorder_bus: SharedBus = Arc::new(MemoryBus::new(64));
    let from_8 = clinicstream::events::Cursor { practice_id: f.practice.clone(), seq: 8 }.encode();
    let feed = Feed::open(db, &reorder_bus, &counters, &f.practice, Some(&from_8), FeedFilter::default()).await;
    let mut reordered = Box::pin(feed.unwrap().into_stream());
    // First poll: the replay from the cursor finds nothing and the feed goes live.
    assert!(tokio::time::timeout(Duration::from_millis(100), reordered.next()).await.is_err());
    for _ in 0..2 {
        app.post_payment(&f.backoffice, &f.patient, 1).await;
    }
    let pair = log::read_range(db, &f.practice, 8, None, None, 10).await.unwrap();
    assert_eq!(pair.iter().map(|e| e.seq).collect::<Vec<_>>(), [9, 10]);
    let fills = counters.gap_fills.get();
    reorder_bus.publish(Arc::new(pair[1].clone()));
    reorder_bus.publish(Arc::new(pair[0].clone()));
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(reordered.next().await.unwrap().unwrap().seq);
    }
    assert_eq!(got, [9, 10]);
    assert_eq!(counters.gap_fills.get(), fills, "the gap closed on the bus, not from the log");
    let _ = json!({});
}

mod lagging {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        if let Some(app) = small_bus_app(Backend::Sqlite).await {
            a_lagging_subscriber_catches_up_from_the_log(app).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = small_bus_app(Backend::Postgres).await {
            a_lagging_subscriber_catches_up_from_the_log(app).await;
        }
    }
}

crate::on_both_backends!(events_published_out_of_order_are_delivered_in_order);

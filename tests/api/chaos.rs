//! Chaos, bounded: random mutations on random replicas, Redis killed and restarted,
//! subscribers dropping and resuming on random replicas with their last cursor. Every
//! subscriber must end with every event exactly once, in order.

use rand::Rng;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::helpers::{TestApp, spawn_replicas};
use crate::redis_server::RedisServer;
use crate::replicas::{collect_within, subscriber};

const REPLICAS: usize = 3;
const WRITERS: usize = 4;
const EVENTS_PER_WRITER: usize = 300;
const SUBSCRIBERS: usize = 6;
const BUDGET: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_keeps_every_subscriber_exactly_once_in_order() {
    let Some(mut redis) = RedisServer::start().await else { return };
    let Some(replicas) = spawn_replicas(REPLICAS, &redis.url(), |_| {}).await else { return };
    let started = Instant::now();
    let f = replicas[0].fixture().await;
    let total = (WRITERS * EVENTS_PER_WRITER) as i64;
    let replicas: Arc<Vec<TestApp>> = Arc::new(replicas);

    let mut subscribers = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let (replicas, key, practice) = (replicas.clone(), f.subscriber.clone(), f.practice.clone());
        subscribers.push(tokio::spawn(async move {
            let mut received: Vec<i64> = Vec::new();
            // From the fixture's event on: the writers may start before this connects.
            let mut cursor = Some(clinicstream::events::Cursor { practice_id: practice.clone(), seq: 1 }.encode());
            let mut reconnects = 0;
            while (received.len() as i64) < total {
                let at = rand::rng().random_range(0..REPLICAS);
                let mut client = subscriber(&replicas[at], &key, &practice, cursor.as_deref()).await;
                let burst = rand::rng().random_range(5..60).min(total as usize - received.len());
                let got = collect_within(&mut client, burst, Duration::from_secs(15)).await;
                let stalled = got.len() < burst;
                for (seq, c) in got {
                    received.push(seq);
                    cursor = Some(c);
                }
                if stalled {
                    break; // The assertion below shows what is missing.
                }
                client.close().await;
                reconnects += 1;
            }
            (received, reconnects)
        }));
    }

    let mut writers = Vec::new();
    for _ in 0..WRITERS {
        let (replicas, key, patient) = (replicas.clone(), f.backoffice.clone(), f.patient.clone());
        writers.push(tokio::spawn(async move {
            for _ in 0..EVENTS_PER_WRITER {
                let at = rand::rng().random_range(0..REPLICAS);
                let body = replicas[at].post_payment(&key, &patient, 1).await;
                assert!(body.get("errors").is_none(), "{body}");
                // timing: random pauses are the chaos; the writes must interleave with restarts.
                let pause = rand::rng().random_range(0..30);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }));
    }

    let mut restarts = 0;
    while writers.iter().any(|w| !w.is_finished()) && started.elapsed() < BUDGET {
        // timing: Redis up and down for random spans is what this test is about.
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(400..1200))).await;
        redis.kill();
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(200..900))).await;
        redis.restart().await;
        restarts += 1;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let mut reconnects_by_clients = 0;
    for handle in subscribers {
        let (received, reconnects) = tokio::time::timeout(BUDGET, handle).await.expect("subscribers finish").unwrap();
        let expected: Vec<i64> = (2..=total + 1).collect();
        if received != expected {
            let missing: Vec<_> = expected.iter().filter(|s| !received.contains(s)).collect();
            let doubled: Vec<_> = received.windows(2).filter(|w| w[1] <= w[0]).collect();
            panic!("not exactly once in order: missing {missing:?}, out of order or doubled {doubled:?}");
        }
        reconnects_by_clients += reconnects;
    }
    let counters = |f: fn(&clinicstream::events::Counters) -> u64| -> u64 {
        replicas.iter().map(|r| f(&r.state().services.domain.counters)).sum()
    };
    let _ = writeln!(
        std::io::stderr(),
        "chaos: {total} events, {SUBSCRIBERS} subscribers ({reconnects_by_clients} client reconnects), \
         {REPLICAS} replicas, {restarts} Redis restarts, {} gap fills, {} lag catch-ups, {} republished, \
         {} Redis reconnects, {:.1} s",
        counters(|c| c.gap_fills.get()),
        counters(|c| c.lag_catch_ups.get()),
        counters(|c| c.republished.get()),
        counters(|c| c.redis_reconnects.get()),
        started.elapsed().as_secs_f64(),
    );
    assert!(restarts >= 1);
}

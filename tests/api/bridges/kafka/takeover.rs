//! Each event once across a killed replica and a broker restart: replica A (the real
//! binary) publishes three practices while events are written, and is SIGKILLed
//! mid-stream; replica B takes the practices over (it reads the partitions back and resumes
//! after what is there; on a broker that commits transactions its producers also fence
//! A's); then the broker itself is SIGKILLed and started again on its storage while B goes
//! on. A `read_committed` consumer sees every event once, in seq order per practice. On
//! tansu, which cannot commit, the bridge promises only at least once; a dead replica
//! writes nothing late, and B waits for its own producer's records before reading back,
//! so none is sent twice here.

use std::sync::Arc;
use std::time::Duration;

use super::{DOOR, Tansu, gots, keyed_by_practice, read_topic, reader_ready};
use crate::binary::Binary;
use crate::bridges::brokers::unique;
use crate::bridges::consumers::verify;
use crate::bridges::support::{bridge, bridge_until, expected, total};
use crate::helpers::{ADMIN_KEY, Backend, Fixture, fresh_db, spawn_app_on};
use crate::redis_server::shared;

const PRACTICES: usize = 3;
const ROUNDS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_and_a_restarted_broker_leave_each_event_once_in_order() {
    if !reader_ready() {
        return;
    }
    let Some(mut tansu) = Tansu::start().await else { return };
    let Some(redis) = shared() else { return };
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let (topic, redis_prefix) = (unique("cstest.takeover."), unique("cs-test-"));
    let bootstrap = tansu.bootstrap();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("REDIS_PREFIX", redis_prefix.as_str()),
        ("ADMIN_KEY", ADMIN_KEY),
        ("BRIDGE_KAFKA_BROKERS", bootstrap.as_str()),
        ("BRIDGE_KAFKA_TOPIC", topic.as_str()),
        ("BRIDGE_KAFKA_PARTITIONS", "2"),
        ("BRIDGE_LEASE", "2s"),
        ("BRIDGE_POLL", "100ms"),
        ("BRIDGE_BACKOFF_MAX", "1s"),
        ("RATE_LIMIT_PER_SEC", "100000"),
        ("RATE_LIMIT_BURST", "100000"),
    ];
    let (mut child, a) = Binary::start(env, Duration::from_secs(10)).await;
    let mut fixtures: Vec<Fixture> = Vec::new();
    for _ in 0..PRACTICES {
        fixtures.push(a.fixture().await);
    }
    let held = bridge_until(&a, "KAFKA", Duration::from_secs(20), |b| b["practicesHeld"] == PRACTICES).await;
    assert_eq!(held["practicesHeld"], PRACTICES, "{held}");

    let b = spawn_app_on(&db, |c| {
        c.bus.redis_url = Some(redis.clone());
        c.bus.redis_prefix = redis_prefix.clone();
        c.bridges.kafka.brokers = Some(bootstrap.clone());
        c.bridges.kafka.topic = topic.clone();
        c.bridges.kafka.partitions = 2;
        c.bridges.lease = Duration::from_secs(2);
        c.bridges.poll = Duration::from_millis(100);
        c.bridges.backoff_max = Duration::from_secs(1);
    })
    .await;
    let fixtures = Arc::new(fixtures);
    for round in 0..ROUNDS {
        if round == ROUNDS / 2 {
            assert_eq!(bridge(&b, "KAFKA").await["practicesHeld"], 0, "one replica per practice");
            // A is publishing what the rounds so far wrote: killed mid-stream.
            child.kill();
        }
        let writer = if round < ROUNDS / 2 { &a } else { &b };
        for f in fixtures.iter() {
            let body = writer.post_payment(&f.backoffice, &f.patient, 1).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
    }
    let took = bridge_until(&b, "KAFKA", Duration::from_secs(30), |s| s["practicesHeld"] == PRACTICES).await;
    assert_eq!(took["practicesHeld"], PRACTICES, "B took every practice over: {took}");

    // The broker restarts (SIGKILL, then the same storage) while B publishes.
    for f in fixtures.iter() {
        super::super::support::pay(&b, &f.backoffice, &f.patient, 5).await;
    }
    tansu.kill();
    for f in fixtures.iter() {
        super::super::support::pay(&b, &f.backoffice, &f.patient, 5).await;
    }
    tansu.run().await;
    for f in fixtures.iter() {
        super::super::support::pay(&b, &f.backoffice, &f.patient, 5).await;
    }

    let practices: Vec<&str> = fixtures.iter().map(|f| f.practice.as_str()).collect();
    let want = expected(&b, &practices, None).await;
    let n = total(&want);
    assert_eq!(n, PRACTICES * (ROUNDS + 16));
    let status = bridge_until(&b, "KAFKA", Duration::from_secs(60), |s| s["lag"] == 0).await;
    assert_eq!(status["lag"], 0, "B caught up after the broker restart: {status}");
    let records = read_topic(&tansu.bootstrap(), &topic, n, Duration::from_secs(60)).await;
    assert_eq!(verify(&gots(&records), DOOR, "", &want), 0, "a read_committed consumer sees each event once");
    assert_eq!(records.len(), n, "nothing twice, nothing missing");
    keyed_by_practice(&records);
}

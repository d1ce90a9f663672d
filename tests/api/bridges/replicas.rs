//! Two replicas on one Postgres and Redis, both running the bridges: one replica publishes
//! a practice at a time (the lease), and when that replica is killed (SIGKILL, the real
//! binary) the other takes its practices over from the durable cursor: JetStream still
//! holds each event once, in order, and RabbitMQ's consumer sees every event in order
//! (resends of what the dead replica had sent but not yet recorded are duplicates).

use std::sync::Arc;
use std::time::Duration;

use super::brokers::{SHARED_AMQP, SHARED_NATS, shared_amqp, shared_nats, unique};
use super::consumers::{AmqpConsumer, Door, distinct, read_stream, verify, wait_for};
use super::support::{bridge, bridge_until, delete_exchange, delete_stream, expected, total};
use crate::binary::Binary;
use crate::helpers::{ADMIN_KEY, Backend, Fixture, fresh_db, spawn_app_on};
use crate::redis_server::shared;

const PRACTICES: usize = 3;
const ROUNDS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_practices_are_taken_over_and_nothing_is_lost_or_reordered() {
    if !shared_nats() || !shared_amqp() {
        return;
    }
    let Some(redis) = shared() else { return };
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let (stream, prefix, exchange) = (unique("CSTEST_"), unique("cstest"), unique("cstest.events."));
    let redis_prefix = unique("cs-test-");
    let amqp = AmqpConsumer::bind(SHARED_AMQP, &exchange).await;

    // Replica A: the real binary, so that it can be killed outright.
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("REDIS_PREFIX", redis_prefix.as_str()),
        ("ADMIN_KEY", ADMIN_KEY),
        ("BRIDGE_NATS_URL", SHARED_NATS),
        ("BRIDGE_NATS_STREAM", stream.as_str()),
        ("BRIDGE_NATS_PREFIX", prefix.as_str()),
        ("BRIDGE_AMQP_URL", SHARED_AMQP),
        ("BRIDGE_AMQP_EXCHANGE", exchange.as_str()),
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
    // A holds every practice before B starts, so the kill below matters.
    let held = bridge_until(&a, "NATS", Duration::from_secs(10), |b| b["practicesHeld"] == PRACTICES).await;
    assert_eq!(held["practicesHeld"], PRACTICES, "{held}");

    // Replica B, in process, on the same database and Redis.
    let b = spawn_app_on(&db, |c| {
        c.bus.redis_url = Some(redis.clone());
        c.bus.redis_prefix = redis_prefix.clone();
        c.bridges.nats_url = Some(SHARED_NATS.into());
        c.bridges.nats_stream = stream.clone();
        c.bridges.nats_prefix = prefix.clone();
        c.bridges.amqp_url = Some(SHARED_AMQP.into());
        c.bridges.amqp_exchange = exchange.clone();
        c.bridges.lease = Duration::from_secs(2);
        c.bridges.poll = Duration::from_millis(100);
        c.bridges.backoff_max = Duration::from_secs(1);
    })
    .await;
    let fixtures = Arc::new(fixtures);
    for round in 0..ROUNDS {
        if round == ROUNDS / 2 {
            // While both live, A keeps every practice: B takes none.
            for kind in ["NATS", "AMQP"] {
                assert_eq!(bridge(&b, kind).await["practicesHeld"], 0, "one replica per practice and bridge");
            }
            child.kill();
        }
        let writer = if round < ROUNDS / 2 && round % 2 == 0 { &a } else { &b };
        for f in fixtures.iter() {
            let body = writer.post_payment(&f.backoffice, &f.patient, 1).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
    }
    let practices: Vec<&str> = fixtures.iter().map(|f| f.practice.as_str()).collect();
    let want = expected(&b, &practices, None).await;
    let n = total(&want);
    assert_eq!(n, PRACTICES * (ROUNDS + 1));
    let within = Duration::from_secs(40);
    assert_eq!(wait_for(within, n, async || distinct(&read_stream(SHARED_NATS, &stream).await)).await, n);
    assert_eq!(wait_for(within, n, async || distinct(&amqp.received())).await, n);
    let in_stream = read_stream(SHARED_NATS, &stream).await;
    assert_eq!(verify(&in_stream, Door::Nats, &prefix, &want), 0, "the stream holds each event once, in order");
    let duplicates = verify(&amqp.received(), Door::Amqp, &prefix, &want);
    assert!(duplicates <= n, "resends are bounded by what was in flight: {duplicates}");
    for kind in ["NATS", "AMQP"] {
        let status = bridge_until(&b, kind, within, |s| s["practicesHeld"] == PRACTICES && s["lag"] == 0).await;
        assert_eq!(status["practicesHeld"], PRACTICES, "B took every practice over: {status}");
        assert_eq!(status["lag"], 0, "{status}");
    }
    drop(b);
    delete_stream(SHARED_NATS, &stream).await;
    delete_exchange(SHARED_AMQP, &exchange).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_stops_gives_its_practices_back_at_once() {
    if !shared_nats() {
        return;
    }
    let Some(redis) = shared() else { return };
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let (stream, prefix, redis_prefix) = (unique("CSTEST_"), unique("cstest"), unique("cs-test-"));
    let adjust = |c: &mut clinicstream::Config| {
        c.bus.redis_url = Some(redis.clone());
        c.bus.redis_prefix = redis_prefix.clone();
        c.bridges.nats_url = Some(SHARED_NATS.into());
        c.bridges.nats_stream = stream.clone();
        c.bridges.nats_prefix = prefix.clone();
        // Far longer than the test: a handover within it can only be the release.
        c.bridges.lease = Duration::from_secs(120);
        c.bridges.poll = Duration::from_millis(100);
    };
    let a = spawn_app_on(&db, adjust).await;
    let f = a.fixture().await;
    let held = bridge_until(&a, "NATS", Duration::from_secs(10), |b| b["practicesHeld"] == 1).await;
    assert_eq!(held["practicesHeld"], 1, "{held}");
    let b = spawn_app_on(&db, adjust).await;
    assert_eq!(bridge(&b, "NATS").await["practicesHeld"], 0);
    super::support::pay(&a, &f.backoffice, &f.patient, 3).await;
    a.stop().await;
    let took = bridge_until(&b, "NATS", Duration::from_secs(10), |s| s["practicesHeld"] == 1).await;
    assert_eq!(took["practicesHeld"], 1, "the stopped replica released its lease: {took}");
    super::support::pay(&b, &f.backoffice, &f.patient, 3).await;
    let want = expected(&b, &[&f.practice], None).await;
    assert_eq!(
        wait_for(Duration::from_secs(20), 7, async || distinct(&read_stream(SHARED_NATS, &stream).await)).await,
        7
    );
    assert_eq!(verify(&read_stream(SHARED_NATS, &stream).await, Door::Nats, &prefix, &want), 0);
    drop(b);
    delete_stream(SHARED_NATS, &stream).await;
}

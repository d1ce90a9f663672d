//! Several replicas sharing Postgres and Redis: every subscriber on every replica gets
//! every event exactly once, in order — across Redis restarts, crashes between commit and
//! publish, slow consumers and reconnects to another replica.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::helpers::{Fixture, TestApp, eventually, spawn_replicas};
use crate::redis_server::{RedisServer, shared};
use crate::ws_client::{TRANSPORT_WS, WsClient};

pub const EVENTS: &str = "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq cursor } }";

/// A subscriber whose subscription is in place when this returns.
pub async fn subscriber(app: &TestApp, key: &str, practice: &str, after: Option<&str>) -> WsClient {
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, key).await;
    client.subscribe("e", EVENTS, json!({ "p": practice, "a": after })).await;
    client.subscribe("sync", "{ __typename }", json!({})).await;
    // Events replayed before the sync answer are kept for the caller, in order.
    let mut early = Vec::new();
    loop {
        let message = client.recv().await.expect("the sync query is answered");
        if message["id"] == "sync" {
            if message["type"] == "complete" {
                break;
            }
            continue;
        }
        early.push(message);
    }
    for message in early {
        client.unread(message);
    }
    client
}

/// Reads events until `count` arrived; returns (seq, cursor) pairs.
pub async fn collect(client: &mut WsClient, count: usize) -> Vec<(i64, String)> {
    let out = collect_within(client, count, Duration::from_secs(15)).await;
    assert_eq!(out.len(), count, "timed out after {} of {count} events: {:?}", out.len(), out.last());
    out
}

/// Reads events until `count` arrived or no event came for `wait`.
pub async fn collect_within(client: &mut WsClient, count: usize, wait: Duration) -> Vec<(i64, String)> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let Some(message) = client.recv_within(wait).await else { return out };
        assert_eq!(message["type"], "next", "{message}");
        let event = &message["payload"]["data"]["events"];
        out.push((event["seq"].as_i64().unwrap(), event["cursor"].as_str().unwrap().to_string()));
    }
    out
}

pub fn seqs(events: &[(i64, String)]) -> Vec<i64> {
    events.iter().map(|(s, _)| *s).collect()
}

async fn pay(app: &TestApp, f: &Fixture) -> Value {
    let body = app.post_payment(&f.backoffice, &f.patient, 1).await;
    assert!(body.get("errors").is_none(), "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_on_any_replica_reach_subscribers_on_every_replica_in_order() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(3, &redis, |_| {}).await else { return };
    let f = replicas[0].fixture().await;
    let mut clients = Vec::new();
    for replica in &replicas {
        for _ in 0..2 {
            clients.push(subscriber(replica, &f.subscriber, &f.practice, None).await);
        }
    }
    // One replica's subscriber sees a mutation made on another.
    pay(&replicas[0], &f).await;
    for client in clients.iter_mut() {
        assert_eq!(seqs(&collect(client, 1).await), [2]);
    }
    // Concurrent writers on two replicas.
    let replicas = Arc::new(replicas);
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (replicas, f) = (replicas.clone(), (f.backoffice.clone(), f.patient.clone()));
            tokio::spawn(async move {
                for _ in 0..60 {
                    let body = replicas[w].post_payment(&f.0, &f.1, 1).await;
                    assert!(body.get("errors").is_none(), "{body}");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    for client in clients.iter_mut() {
        assert_eq!(seqs(&collect(client, 120).await), (3..=122).collect::<Vec<_>>());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_run_loses_and_duplicates_nothing() {
    let Some(mut redis) = RedisServer::start().await else { return };
    let Some(replicas) = spawn_replicas(2, &redis.url(), |_| {}).await else { return };
    let f = replicas[0].fixture().await;
    let mut clients = Vec::new();
    for replica in &replicas {
        clients.push(subscriber(replica, &f.subscriber, &f.practice, None).await);
    }
    let replicas = Arc::new(replicas);
    let writer = {
        let (replicas, key, patient) = (replicas.clone(), f.backoffice.clone(), f.patient.clone());
        tokio::spawn(async move {
            for i in 0..150 {
                let body = replicas[i % 2].post_payment(&key, &patient, 1).await;
                assert!(body.get("errors").is_none(), "mutations go on while Redis is down: {body}");
                // timing: writes spread over the outage, so some land before, during and after it.
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        })
    };
    // Redis goes mid-run, once a quarter of the writes are in the log, and stays away
    // while another quarter goes in.
    let logged = async || replicas[0].log(&f.practice).await.len();
    let quarter = 150 / 4;
    let before = eventually(Duration::from_secs(20), logged, |n| *n > 1 + quarter).await.expect("writes under way");
    redis.kill();
    eventually(Duration::from_secs(20), logged, |n| *n > before + quarter).await.expect("writes go on without Redis");
    let ready = async || replicas[0].http().get(replicas[0].url("/readyz")).send().await.unwrap().status().as_u16();
    let status = eventually(Duration::from_secs(5), ready, |s| *s == 503).await.unwrap_or_else(|s| s);
    assert_eq!(status, 503, "not ready while Redis is away");
    redis.restart().await;
    writer.await.unwrap();
    for client in clients.iter_mut() {
        assert_eq!(seqs(&collect(client, 150).await), (2..=151).collect::<Vec<_>>());
        assert!(client.recv_within(Duration::from_millis(500)).await.is_none(), "nothing twice");
    }
    let reconnects: u64 = replicas.iter().map(|r| r.state().services.domain.counters.redis_reconnects.get()).sum();
    let republished: u64 = replicas.iter().map(|r| r.state().services.domain.counters.republished.get()).sum();
    assert!(reconnects >= 2, "each replica reconnected ({reconnects})");
    assert!(republished >= 1, "the relay published what Redis missed ({republished})");
    let ready = async || replicas[0].http().get(replicas[0].url("/readyz")).send().await.unwrap().status().as_u16();
    let ready = eventually(Duration::from_secs(5), ready, |s| *s == 200).await.unwrap_or_else(|s| s);
    assert_eq!(ready, 200, "ready again once Redis is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_commit_and_publish_is_published_by_the_relay_once() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, |_| {}).await else { return };
    let f = replicas[0].fixture().await;
    let mut client = subscriber(&replicas[1], &f.subscriber, &f.practice, None).await;
    replicas[0].state().services.domain.faults.skip_publish.store(true, Ordering::SeqCst);
    pay(&replicas[0], &f).await;
    replicas[0].state().services.domain.faults.skip_publish.store(false, Ordering::SeqCst);
    assert_eq!(seqs(&collect(&mut client, 1).await), [2], "the relay published the stranded event");
    pay(&replicas[1], &f).await;
    assert_eq!(seqs(&collect(&mut client, 1).await), [3]);
    assert!(client.recv_within(Duration::from_millis(1500)).await.is_none(), "and only once");
    let republished: u64 = replicas.iter().map(|r| r.state().services.domain.counters.republished.get()).sum();
    assert!(republished >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_delays_nobody_and_later_gets_everything() {
    const N: usize = 1500;
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, |c| c.bus.bus_capacity = 64).await else { return };
    let f = replicas[0].fixture().await;
    // A wide selection makes each message big enough to fill the socket buffers.
    let wide = "subscription($p: ID!) { events(practiceId: $p) { seq cursor type occurredAt practiceId ... on PaymentEvent { payment { id patientId practiceId amountCents method reference postedAt } patient { id firstName lastName email phone balanceCents createdAt } } } }";
    let mut slow = WsClient::connect(replicas[1].addr, TRANSPORT_WS, &f.subscriber).await;
    let from_start = clinicstream::events::Cursor { practice_id: f.practice.clone(), seq: 1 }.encode();
    slow.subscribe(
        "e",
        &wide
            .replace("events(practiceId: $p)", "events(practiceId: $p, after: $a)")
            .replace("($p: ID!)", "($p: ID!, $a: String)"),
        json!({ "p": f.practice, "a": from_start }),
    )
    .await;
    let mut fast = subscriber(&replicas[1], &f.subscriber, &f.practice, None).await;
    let writer = {
        let (app, key, patient) = (replicas[0].clone_handle(), f.backoffice.clone(), f.patient.clone());
        tokio::spawn(async move {
            for _ in 0..N {
                app.post_payment(&key, &patient, 1).await;
            }
        })
    };
    assert_eq!(seqs(&collect(&mut fast, N).await), (2..=N as i64 + 1).collect::<Vec<_>>());
    writer.await.unwrap();
    // The slow one, never read until now, still gets all of them, in order.
    let mut got = Vec::new();
    while got.len() < N {
        let message = slow.recv_within(Duration::from_secs(15)).await.expect("the slow subscriber catches up");
        got.push(message["payload"]["data"]["events"]["seq"].as_i64().unwrap());
    }
    assert_eq!(got, (2..=N as i64 + 1).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_on_another_replica_has_no_gap_and_no_duplicate() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, |_| {}).await else { return };
    let f = replicas[0].fixture().await;
    let mut client = subscriber(&replicas[0], &f.subscriber, &f.practice, None).await;
    for _ in 0..3 {
        pay(&replicas[0], &f).await;
    }
    let first = collect(&mut client, 3).await;
    client.close().await;
    for _ in 0..4 {
        pay(&replicas[0], &f).await;
    }
    let mut client = subscriber(&replicas[1], &f.subscriber, &f.practice, Some(&first[2].1)).await;
    pay(&replicas[0], &f).await;
    assert_eq!(seqs(&collect(&mut client, 5).await), [5, 6, 7, 8, 9]);
    assert!(client.recv_within(Duration::from_millis(500)).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replica_holds_one_pubsub_connection_whatever_its_subscribers() {
    let Some(redis) = RedisServer::start().await else { return };
    let Some(replicas) = spawn_replicas(2, &redis.url(), |_| {}).await else { return };
    let mut clients = Vec::new();
    let mut practices = Vec::new();
    for _ in 0..3 {
        practices.push(replicas[0].fixture().await);
    }
    for replica in &replicas {
        for f in &practices {
            for _ in 0..4 {
                clients.push(subscriber(replica, &f.subscriber, &f.practice, None).await);
            }
        }
    }
    // Besides the bus, each replica holds one connection on the control channel (`sub=1`).
    let control = format!("{}:control", replicas[0].state().config.bus.redis_prefix);
    let listening = redis.command(&["PUBSUB", "NUMSUB", &control]).await.unwrap();
    assert!(listening.ends_with("int(2)])"), "both replicas listen on {control}: {listening}");
    let list = redis.command(&["CLIENT", "LIST"]).await.unwrap();
    let subscribed: Vec<&str> =
        list.lines().filter(|l| l.split(' ').any(|kv| kv.starts_with("sub=") && kv != "sub=0")).collect();
    let bus: Vec<&&str> = subscribed.iter().filter(|l| !l.contains(" sub=1 ")).collect();
    assert_eq!(subscribed.len() - bus.len(), 2, "one control connection per replica:\n{list}");
    assert_eq!(bus.len(), 2, "one pub/sub connection per replica for 24 subscriptions:\n{list}");
    assert!(bus.iter().all(|l| l.contains("sub=3 ")), "one channel per practice:\n{list}");
    // The last subscriber of a practice leaving unsubscribes its channel.
    drop(clients);
    let bus_connections = |list: &String| {
        let subscribed = list.lines().filter(|l| l.split(' ').any(|kv| kv.starts_with("sub=") && kv != "sub=0"));
        subscribed.filter(|l| !l.contains(" sub=1 ")).count()
    };
    let list = async || redis.command(&["CLIENT", "LIST"]).await.unwrap();
    let within = Duration::from_secs(5);
    let list = eventually(within, list, |list| bus_connections(list) == 0).await.unwrap_or_else(|list| list);
    assert_eq!(bus_connections(&list), 0, "only the control connections: {list}");
    let listening = redis.command(&["PUBSUB", "NUMSUB", &control]).await.unwrap();
    assert!(listening.ends_with("int(2)])"), "{listening}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_replica_is_refused_on_the_other_within_a_second() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, |_| {}).await else { return };
    let f = replicas[0].fixture().await;
    let query = "{ practices { edges { node { id } } } }";
    // The other replica has the key resolved (and kept for a second).
    replicas[1].ok(&f.subscriber, query, json!({})).await;
    let keys = replicas[0]
        .ok(&f.practice_admin, "query($p: ID!) { apiKeys(practiceId: $p) { id role } }", json!({ "p": f.practice }))
        .await;
    let id = keys["apiKeys"].as_array().unwrap().iter().find(|k| k["role"] == "SUBSCRIBER").unwrap()["id"].clone();
    replicas[0]
        .ok(&f.practice_admin, "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { id } }", json!({ "id": id }))
        .await;
    let here = replicas[0].gql(Some(&f.subscriber), query, json!({})).await;
    assert_eq!(crate::helpers::code(&here), "UNAUTHENTICATED", "at once on the replica that revoked it");
    let there = async || replicas[1].gql(Some(&f.subscriber), query, json!({})).await;
    let refused = |body: &Value| body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED";
    let there = eventually(Duration::from_millis(1100), there, refused).await.unwrap_or_else(|body| body);
    assert_eq!(crate::helpers::code(&there), "UNAUTHENTICATED", "within a second on the other");
}

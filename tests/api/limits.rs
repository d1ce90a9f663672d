//! Limits across replicas on one Redis: the per-key rate limit, the per-key connection
//! cap (a crashed replica's connections lapse), revocation reaching every replica at once.

use serde_json::json;
use std::time::{Duration, Instant};

use crate::helpers::{ADMIN_KEY, TestApp, code, spawn_replicas};
use crate::redis_server::shared;
use crate::replicas::subscriber;
use crate::ws_client::{TRANSPORT_WS, WsClient};
use clinicstream::limits::{Scope, SharedRedis, Slots};

async fn revoke(app: &TestApp, practice: &str, role: &str) {
    let keys =
        app.ok(ADMIN_KEY, "query($p: ID!) { apiKeys(practiceId: $p) { id role } }", json!({ "p": practice })).await;
    let id = keys["apiKeys"].as_array().unwrap().iter().find(|k| k["role"] == role).unwrap()["id"].clone();
    app.ok(ADMIN_KEY, "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { revokedAt } }", json!({ "id": id })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_closes_its_sockets_on_every_replica_within_200_ms() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, |_| {}).await else { return };
    revocation_reaches_every_replica_within_200_ms(&replicas).await;
}

/// A key revoked on the first replica: its sockets on the first two close with 4403 within
/// 200 ms; another key's socket lives on. (Also run on a Redis Cluster, tests/api/cluster.rs.)
pub(crate) async fn revocation_reaches_every_replica_within_200_ms(replicas: &[TestApp]) {
    let f = replicas[0].fixture().await;
    let mut here = subscriber(&replicas[0], &f.subscriber, &f.practice, None).await;
    let mut there = subscriber(&replicas[1], &f.subscriber, &f.practice, None).await;
    let mut other = subscriber(&replicas[1], &f.backoffice, &f.practice, None).await;
    revoke(&replicas[0], &f.practice, "SUBSCRIBER").await;
    let revoked = Instant::now();
    for client in [&mut here, &mut there] {
        let code = tokio::time::timeout(Duration::from_secs(3), client.closed()).await.ok().flatten();
        assert_eq!(code, Some(4403), "closed with 4403 Forbidden");
    }
    let took = revoked.elapsed();
    assert!(
        took < Duration::from_millis(200),
        "both replicas closed it within 200 ms, not by the 1 s sweep ({took:?})"
    );
    replicas[0].post_payment(&f.backoffice, &f.patient, 1).await;
    assert_eq!(other.recv().await.expect("another key's socket lives on")["type"], "next");
}

/// A burst of 6, refilled at 1 a second: what the rate-limit tests run with.
pub(crate) fn slow_rate(c: &mut clinicstream::Config) {
    c.rate_limit_per_sec = 1;
    c.rate_limit_burst = 6;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_of_a_key_holds_across_two_replicas() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, slow_rate).await else { return };
    one_rate_bucket_across_replicas(&replicas).await;
}

/// Requests of one key alternating between two replicas (configured by `slow_rate`) get one
/// burst between them, not one each; a socket operation spends the same bucket.
pub(crate) async fn one_rate_bucket_across_replicas(replicas: &[TestApp]) {
    let f = replicas[0].fixture().await;
    let started = Instant::now();
    let mut allowed = [0u32; 2];
    for i in 0..20 {
        let replica = &replicas[i % 2];
        let response = replica
            .http()
            .post(replica.url("/graphql"))
            .bearer_auth(&f.subscriber)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => allowed[i % 2] += 1,
            429 => {
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(code(&body), "RATE_LIMITED");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    // One bucket for both: the burst, plus what refilled meanwhile (1 a second).
    let refilled = started.elapsed().as_secs() as u32 + 1;
    let total = allowed[0] + allowed[1];
    assert!(total >= 6, "the burst is allowed ({allowed:?})");
    assert!(total <= 6 + refilled, "one burst across both replicas, not one each ({allowed:?})");
    // A socket operation on either replica spends the same bucket.
    let mut client = WsClient::connect(replicas[1].addr, TRANSPORT_WS, &f.subscriber).await;
    client.subscribe("1", "{ __typename }", json!({})).await;
    let refused = client.recv().await.unwrap();
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED", "{refused}");
    // Another key has its own bucket.
    replicas[1].ok(&f.backoffice, "{ __typename }", json!({})).await;
}

async fn refused_connection(app: &TestApp, key: &str) -> Option<u16> {
    let mut client = WsClient::open(app.addr, TRANSPORT_WS).await;
    client.send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } })).await;
    tokio::time::timeout(Duration::from_secs(5), client.closed()).await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_of_a_key_holds_across_two_replicas() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, |c| c.max_connections_per_key = 2).await else { return };
    let f = replicas[0].fixture().await;
    let first = WsClient::connect(replicas[0].addr, TRANSPORT_WS, &f.subscriber).await;
    let _second = WsClient::connect(replicas[1].addr, TRANSPORT_WS, &f.subscriber).await;
    for replica in &replicas {
        assert_eq!(
            refused_connection(replica, &f.subscriber).await,
            Some(4403),
            "a third connection is refused anywhere"
        );
    }
    // Another key is not affected; a closed connection frees its slot for any replica.
    let _other = WsClient::connect(replicas[1].addr, TRANSPORT_WS, &f.backoffice).await;
    first.close().await;
    let acked = async || {
        let mut client = WsClient::open(replicas[1].addr, TRANSPORT_WS).await;
        client
            .send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", f.subscriber) } }))
            .await;
        client.recv_within(Duration::from_secs(2)).await.is_some_and(|message| message["type"] == "connection_ack")
    };
    let freed = crate::helpers::eventually(Duration::from_secs(5), acked, |acked| *acked).await.is_ok();
    assert!(freed, "the closed connection's slot is taken again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_replicas_slots_lapse_and_a_live_replicas_are_kept() {
    let Some(redis) = shared() else { return };
    let prefix = format!("cs-test-{}", uuid::Uuid::now_v7().simple());
    let lease = Duration::from_millis(600);
    let open = || Some(SharedRedis::open(&redis).unwrap());
    let (crashed, live) =
        (Slots::leased(open(), &prefix, "crashed", lease), Slots::leased(open(), &prefix, "live", lease));
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(live.clone().refresh(stop.clone()));
    let scope = Scope::KeyConnections("k1".into());
    // The crashed replica takes a slot and never gives it back nor refreshes it.
    std::mem::forget(crashed.take(&scope, Some(2)).await.expect("a free slot"));
    let kept = live.take(&scope, Some(2)).await.expect("the second slot");
    assert_eq!(live.take(&scope, Some(2)).await.err(), Some(2), "full");
    assert_eq!(live.count(&Scope::KeyConnections("other".into())).await, 0, "counts are per scope");
    // timing: the leases lapse in Redis (its own expiry, real time), and the refreshed slot
    // must outlive several of them.
    tokio::time::sleep(lease * 3).await;
    assert_eq!(live.count(&scope).await, 1, "the crashed replica's slot lapsed, the refreshed one did not");
    let again = live.take(&scope, Some(2)).await.expect("the lapsed slot is free again");
    assert_eq!(live.take(&scope, Some(2)).await.err(), Some(2));
    drop((kept, again));
    let count = async || live.count(&scope).await;
    let left = crate::helpers::eventually(Duration::from_secs(2), count, |n| *n == 0).await.unwrap_or_else(|n| n);
    assert_eq!(left, 0, "given back when dropped");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_away_the_limits_hold_per_replica_and_refuse_nobody_else() {
    let Some(mut redis) = crate::redis_server::RedisServer::start().await else { return };
    let Some(replicas) = spawn_replicas(1, &redis.url(), |c| {
        c.rate_limit_per_sec = 1;
        c.rate_limit_burst = 10;
        c.max_connections_per_key = 1;
    })
    .await
    else {
        return;
    };
    let app = &replicas[0];
    let f = app.fixture().await;
    redis.kill();
    let mut statuses = Vec::new();
    for _ in 0..14 {
        let response = app
            .http()
            .post(app.url("/graphql"))
            .bearer_auth(&f.subscriber)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(statuses[..10].iter().all(|s| *s == 200), "the burst, counted on this replica ({statuses:?})");
    assert!(statuses[10..].contains(&429), "then the local bucket is empty ({statuses:?})");
    let _first = WsClient::connect(app.addr, TRANSPORT_WS, &f.backoffice).await;
    assert_eq!(refused_connection(app, &f.backoffice).await, Some(4403), "the cap, counted on this replica");
    redis.restart().await;
}

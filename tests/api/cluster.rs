//! The bus on a Redis Cluster (REDIS_CLUSTER_NODES), on a cluster each test starts (three
//! masters, three replicas): practices on every shard, three clinicstream replicas with
//! subscribers and writers on each; one pub/sub connection per shard per replica; a
//! master killed mid-run fails over and every subscriber still gets every event once,
//! in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::{Backend, Fixture, TestApp, eventually, fresh_db, spawn_replicas, test_config};
use crate::redis_cluster::{Master, RedisCluster};
use crate::replicas::{collect, seqs, subscriber};
use crate::ws_client::WsClient;
use clinicstream::config::parse_cluster_nodes;

/// `n` replicas on one fresh Postgres database and the cluster, under one channel prefix.
async fn cluster_replicas(n: usize, cluster: &RedisCluster) -> Option<Vec<TestApp>> {
    cluster_replicas_with(n, cluster, |_| {}).await
}

/// `cluster_replicas`, each configured by `configure` as well.
async fn cluster_replicas_with(
    n: usize,
    cluster: &RedisCluster,
    configure: impl Fn(&mut clinicstream::Config),
) -> Option<Vec<TestApp>> {
    let nodes = parse_cluster_nodes(&cluster.nodes()).unwrap();
    spawn_replicas(n, "unused", move |c| {
        c.bus.redis_url = None;
        c.bus.redis_cluster_nodes = Some(nodes.clone());
        configure(c);
    })
    .await
}

fn prefix(app: &TestApp) -> String {
    app.state().config.bus.redis_prefix.clone()
}

/// Practices, `per_shard` on each master, with the master index of each; the slots are
/// checked with CLUSTER KEYSLOT.
async fn practices_on_every_shard(
    app: &TestApp,
    cluster: &RedisCluster,
    masters: &[Master],
    per_shard: usize,
) -> Vec<(Fixture, usize)> {
    let mut out = Vec::new();
    let mut counts = vec![0; masters.len()];
    for _ in 0..60 {
        if counts.iter().all(|c| *c >= per_shard) {
            break;
        }
        let f = app.fixture().await;
        let channel = format!("{}:practice:{{{}}}", prefix(app), f.practice);
        let slot = cluster.keyslot(&channel).await;
        assert_eq!(slot, clinicstream::events::key_slot(channel.as_bytes()), "the server's slot is Redis's");
        let shard = masters.iter().position(|m| m.serves(slot)).expect("some master serves every slot");
        if counts[shard] < per_shard {
            counts[shard] += 1;
            out.push((f, shard));
        }
    }
    assert!(counts.iter().all(|c| *c >= per_shard), "practices cover every shard: {counts:?}");
    out
}

/// This test's pub/sub connections on one node: name → shard channels subscribed.
async fn pubsub_connections(cluster: &RedisCluster, port: u16, prefix: &str) -> BTreeMap<String, String> {
    let list = cluster.command(port, &["CLIENT", "LIST"]).await.unwrap();
    let wanted = format!("name=clinicstream-sub-{prefix}-");
    let mut out = BTreeMap::new();
    for line in list.lines().filter(|l| l.split(' ').any(|kv| kv.starts_with(&wanted))) {
        let field = |key: &str| line.split(' ').find_map(|kv| kv.strip_prefix(key)).unwrap_or("?").to_string();
        let name = field("name=");
        assert!(out.insert(name.clone(), field("ssub=")).is_none(), "two connections named {name} on {port}:\n{list}");
    }
    out
}

/// This test's publish connections on one node, by name (`clinicstream-pub-<prefix>-<id>`).
async fn publish_connections(cluster: &RedisCluster, port: u16, prefix: &str) -> Vec<String> {
    let list = cluster.command(port, &["CLIENT", "LIST"]).await.unwrap();
    let wanted = format!("name=clinicstream-pub-{prefix}-");
    let mut names: Vec<String> = list
        .lines()
        .flat_map(|line| line.split(' '))
        .filter(|kv| kv.starts_with(&wanted))
        .map(|kv| kv["name=".len()..].to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replica_holds_one_pubsub_connection_per_shard_it_needs() {
    let Some(cluster) = RedisCluster::start().await else { return };
    let Some(replicas) = cluster_replicas(3, &cluster).await else { return };
    let masters = cluster.masters().await;
    assert_eq!(masters.len(), 3);
    let practices = practices_on_every_shard(&replicas[0], &cluster, &masters, 2).await;
    let prefix = prefix(&replicas[0]);
    // Replicas 0 and 1: three subscribers to every practice; replica 2: only to the
    // practices of the first shard.
    let mut clients: Vec<(String, WsClient)> = Vec::new();
    for (r, replica) in replicas.iter().enumerate() {
        for (f, shard) in &practices {
            if r == 2 && *shard != 0 {
                continue;
            }
            for _ in 0..3 {
                clients.push((f.practice.clone(), subscriber(replica, &f.subscriber, &f.practice, None).await));
            }
        }
    }
    for (m, master) in masters.iter().enumerate() {
        let connections = pubsub_connections(&cluster, master.port, &prefix).await;
        let expected = if m == 0 { 3 } else { 2 };
        assert_eq!(connections.len(), expected, "one connection per replica that needs shard {m}: {connections:?}");
        // Two practices on the shard, whatever the number of their subscribers.
        assert!(connections.values().all(|ssub| ssub == "2"), "{connections:?}");
    }
    // Events still flow to all of them.
    let (f, shard) = &practices[0];
    let body = replicas[1].post_payment(&f.backoffice, &f.patient, 1).await;
    assert!(body.get("errors").is_none(), "{body}");
    let mut on_first = 0;
    for (practice, client) in clients.iter_mut() {
        if *practice == f.practice {
            assert_eq!(seqs(&collect(client, 1).await), [2]);
            on_first += 1;
        }
    }
    assert_eq!(on_first, if *shard == 0 { 9 } else { 6 });
    // Publishing goes out in one pipeline per shard, on one connection to each master per
    // replica: replica 1 posts on every shard, so its connection is on all three masters,
    // beside replica 0's (it created the practices); no replica holds two to one master.
    for (f, _) in &practices {
        let body = replicas[1].post_payment(&f.backoffice, &f.patient, 1).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let mut on_every: Option<Vec<String>> = None;
    for (m, master) in masters.iter().enumerate() {
        let names = publish_connections(&cluster, master.port, &prefix).await;
        let mut distinct = names.clone();
        distinct.dedup();
        assert_eq!(distinct, names, "one publish connection per replica on shard {m}");
        assert!((1..=2).contains(&names.len()), "replicas 0 and 1 publish to shard {m}: {names:?}");
        on_every = Some(match on_every {
            None => names,
            Some(seen) => seen.into_iter().filter(|n| names.contains(n)).collect(),
        });
    }
    assert!(on_every.is_some_and(|names| !names.is_empty()), "replica 1's publish connection is on every master");
    // The last subscribers leaving close the connections.
    drop(clients);
    let connections = async || {
        let mut left = 0;
        for master in &masters {
            left += pubsub_connections(&cluster, master.port, &prefix).await.len();
        }
        left
    };
    let left = eventually(Duration::from_secs(5), connections, |left| *left == 0).await.unwrap_or_else(|left| left);
    assert_eq!(left, 0, "no pub/sub connection is left once nobody listens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_mid_run_fails_over_and_every_subscriber_gets_every_event_once_in_order() {
    const N: usize = 60;
    let Some(mut cluster) = RedisCluster::start().await else { return };
    let Some(replicas) = cluster_replicas(3, &cluster).await else { return };
    let masters = cluster.masters().await;
    assert_eq!(masters.len(), 3);
    let practices = practices_on_every_shard(&replicas[0], &cluster, &masters, 1).await;
    // Every replica has a subscriber to every practice.
    let mut clients = Vec::new();
    for replica in &replicas {
        for (f, _) in &practices {
            clients.push((f.practice.clone(), subscriber(replica, &f.subscriber, &f.practice, None).await));
        }
    }
    let replicas = Arc::new(replicas);
    // Writers on each replica, for every practice.
    let writers: Vec<_> = practices
        .iter()
        .map(|(f, _)| {
            let (replicas, key, patient) = (replicas.clone(), f.backoffice.clone(), f.patient.clone());
            tokio::spawn(async move {
                for i in 0..N {
                    let body = replicas[i % 3].post_payment(&key, &patient, 1).await;
                    assert!(body.get("errors").is_none(), "mutations go on during the failover: {body}");
                    // timing: writes spread over the failover, so some land in each of its phases.
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
            })
        })
        .collect();
    // The master goes mid-run: once a quarter of the writes are in the log.
    let logged = async || replicas[0].log(&practices[0].0.practice).await.len();
    eventually(Duration::from_secs(20), logged, |n| *n > 1 + N / 4).await.expect("the writes get under way");
    let victim = masters[1].port;
    cluster.kill(victim);
    for writer in writers {
        writer.await.unwrap();
    }
    let expected: Vec<i64> = (2..=N as i64 + 1).collect();
    for (practice, client) in clients.iter_mut() {
        let got = seqs(&collect_long(client, N).await);
        assert_eq!(got, expected, "practice {practice}: every event once, in order");
    }
    for (_, client) in clients.iter_mut() {
        assert!(client.recv_within(Duration::from_millis(300)).await.is_none(), "nothing twice");
    }
    // A replica took over the killed master's slots; every clinicstream replica
    // resubscribed there and is ready again.
    let after = cluster.masters().await;
    assert!(after.iter().all(|m| m.port != victim), "{after:?}");
    for replica in replicas.iter() {
        let resubscribes: u64 = metric_sum(replica, "clinicstream_redis_shard_resubscribes_total").await;
        assert!(resubscribes >= 1, "the replica resubscribed after the failover ({resubscribes})");
        let ready = async || replica.http().get(replica.url("/readyz")).send().await.unwrap().status().as_u16();
        let status = eventually(Duration::from_secs(5), ready, |s| *s == 200).await.unwrap_or_else(|s| s);
        assert_eq!(status, 200, "ready once every needed shard is connected again");
        let connected = metric_sum(replica, "clinicstream_redis_shard_connected").await;
        assert_eq!(connected, 3, "connected to the three shards again");
    }
}

/// Like `collect`, with room for a failover (detection, election, relay grace).
async fn collect_long(client: &mut WsClient, count: usize) -> Vec<(i64, String)> {
    let out = crate::replicas::collect_within(client, count, Duration::from_secs(30)).await;
    assert_eq!(out.len(), count, "timed out after {} of {count} events: {:?}", out.len(), out.last());
    out
}

/// The sum of a metric's samples on `/metrics`.
async fn metric_sum(app: &TestApp, name: &str) -> u64 {
    let text = app.http().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v as u64,
            _ => 0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_settings_are_checked_before_serving() {
    let Some(db) = fresh_db(Backend::Sqlite).await else { return };
    let url = db.url.as_str();
    // Both buses at once is refused, naming the settings.
    let mut both = test_config(url);
    both.bus.redis_url = Some("redis://127.0.0.1:6379".into());
    both.bus.redis_cluster_nodes = Some(parse_cluster_nodes("127.0.0.1:7000").unwrap());
    let err = clinicstream::app::App::build(both).await.err().expect("refused");
    assert!(format!("{err:#}").contains("REDIS_CLUSTER_NODES"), "{err:#}");
    // A cluster nobody answers for fails the start with the setting named.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut absent = test_config(url);
    absent.bus.redis_cluster_nodes = Some(parse_cluster_nodes(&format!("127.0.0.1:{port}")).unwrap());
    let err = clinicstream::app::App::build(absent).await.err().expect("refused");
    assert!(format!("{err:#}").contains("REDIS_CLUSTER_NODES"), "{err:#}");
    // A single Redis that is not a cluster is refused too.
    if crate::redis_server::shared().is_some() {
        let mut plain = test_config(url);
        plain.bus.redis_cluster_nodes = Some(parse_cluster_nodes("127.0.0.1:6379").unwrap());
        let err = clinicstream::app::App::build(plain).await.err().expect("refused");
        assert!(format!("{err:#}").contains("REDIS_CLUSTER_NODES"), "{err:#}");
    }
    // Malformed node lists never get that far: the command line refuses them.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clinicstream"))
        .args(["serve", "--redis-cluster-nodes", "redis://a:7000,,b"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not host:port") || stderr.contains("empty node"), "{stderr}");
}

/// The shared limits run on the cluster as on one Redis: a key revoked on one replica
/// closes its sockets on the others within 200 ms (the control channel), and its rate
/// limit is one bucket for all replicas (one slot, whichever shard owns it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_revocation_reaches_every_replica_and_the_rate_limit_is_shared() {
    let Some(cluster) = RedisCluster::start().await else { return };
    let Some(replicas) = cluster_replicas(2, &cluster).await else { return };
    crate::limits::revocation_reaches_every_replica_within_200_ms(&replicas).await;
    let Some(limited) = cluster_replicas_with(2, &cluster, crate::limits::slow_rate).await else { return };
    crate::limits::one_rate_bucket_across_replicas(&limited).await;
}

//! Publish throughput of the bus (BENCHMARKS.md, "Redis Cluster"): starts a `RedisBus`
//! (`--redis-url`) or a `ClusterBus` (`--cluster-nodes`), hands it `--events` pre-built
//! events over `--practices` practices as fast as it can, and reports how many publishes
//! Redis confirmed per second (the bus's `published` counter), as one JSON line.
//! `--batch 1` is the one-at-a-time publisher this replaced. Loopback Redis only; the
//! outbox is an in-memory SQLite (no rows: the events are not in it).

use anyhow::{Context, bail};
use clap::Parser;
use clinicstream::config::DbArgs;
use clinicstream::events::{
    ClusterBus, ClusterSettings, Counters, EventBus, MAX_PUBLISH_BATCH, Payload, RedisBus, RedisSettings,
    RelaySettings, StoredEvent,
};
use clinicstream::vocab::{EventType, Patient};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The server's allocator (its default feature), so the bus costs here what it costs there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "busbench", about = "Measures how many events/s the Redis or Redis Cluster bus publishes")]
struct Args {
    /// One Redis, `redis://host:port`.
    #[arg(long, conflicts_with = "cluster_nodes")]
    redis_url: Option<String>,
    /// A Redis Cluster's seed nodes, `host:port,host:port,…`.
    #[arg(long)]
    cluster_nodes: Option<String>,
    #[arg(long, default_value_t = 50_000)]
    events: usize,
    #[arg(long, default_value_t = 30)]
    practices: usize,
    /// Most events per pipeline (1: one at a time, the old publisher).
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// A label copied into the output line.
    #[arg(long, default_value = "")]
    label: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.events == 0 || args.practices == 0 {
        bail!("--events and --practices must be at least 1");
    }
    let publish_batch = args.batch.clamp(1, MAX_PUBLISH_BATCH);
    let db = clinicstream::db::connect(&DbArgs {
        database_url: "sqlite::memory:".into(),
        db_max_connections: 1,
        db_acquire_timeout: std::time::Duration::from_secs(30),
    })
    .await
    .context("in-memory outbox")?;
    let counters = Arc::new(Counters::default());
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    // The relay finds nothing (no rows); keep it out of the way anyway.
    let relay = RelaySettings { interval: Duration::from_secs(3600), grace: Duration::from_secs(3600) };
    let prefix = format!("busbench{}", std::process::id());
    let bus: Box<dyn EventBus> = match (&args.redis_url, &args.cluster_nodes) {
        (Some(url), None) => Box::new(RedisBus::start(
            RedisSettings { url: url.clone(), prefix, capacity: 1024, relay, publish_batch },
            db,
            counters.clone(),
            shutdown.clone(),
            &tracker,
        )?),
        (None, Some(nodes)) => Box::new(
            ClusterBus::start(
                ClusterSettings {
                    nodes: nodes.split(',').map(str::to_string).collect(),
                    prefix,
                    capacity: 1024,
                    relay,
                    publish_batch,
                },
                db,
                counters.clone(),
                shutdown.clone(),
                &tracker,
            )
            .await?,
        ),
        _ => bail!("give --redis-url or --cluster-nodes"),
    };
    let events = build_events(args.events, args.practices)?;
    // Warm up: the connection is up and the first publish confirmed before the clock starts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while bus.ready().await.is_err() {
        if Instant::now() > deadline {
            bail!("the bus did not become ready within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    for event in events {
        bus.publish(event);
    }
    let total = args.events as u64;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done = counters.published.get() + counters.publish_failures.get();
        if done >= total {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {done} of {total} publishes finished within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let published = counters.published.get();
    println!(
        "{}",
        serde_json::json!({
            "label": args.label,
            "target": if args.cluster_nodes.is_some() { "cluster" } else { "single" },
            "batch": args.batch,
            "events": total,
            "practices": args.practices,
            "published": published,
            "failures": counters.publish_failures.get(),
            "seconds": elapsed,
            "published_per_s": published as f64 / elapsed,
        })
    );
    shutdown.cancel();
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), tracker.wait()).await;
    Ok(())
}

/// `count` PatientUpdated events, round-robin over `practices`, each practice's in seq order.
fn build_events(count: usize, practices: usize) -> anyhow::Result<Vec<Arc<StoredEvent>>> {
    let patients: Vec<Arc<Patient>> = (0..practices)
        .map(|p| {
            serde_json::from_value(serde_json::json!({
                "id": format!("pat_bench_{p}"),
                "practiceId": format!("prc_bench_{p}"),
                "firstName": "Ada",
                "lastName": "Lovelace",
                "email": "ada@example.com",
                "phone": null,
                "dateOfBirth": null,
                "balanceCents": 12345,
                "createdAt": "2026-01-01T00:00:00Z",
            }))
            .map(Arc::new)
        })
        .collect::<Result<_, _>>()
        .context("bench patient")?;
    let now = chrono::Utc::now();
    Ok((0..count)
        .map(|i| {
            let p = i % practices;
            Arc::new(StoredEvent {
                practice_id: format!("prc_bench_{p}"),
                seq: (i / practices) as i64 + 1,
                event_type: EventType::PatientUpdated,
                occurred_at: now,
                payload: Payload::Patient { patient: patients[p].clone() },
                trace: None,
            })
        })
        .collect())
}

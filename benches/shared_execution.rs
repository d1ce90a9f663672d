//! The delivery plane's shared execution: one event to 10,000 registrations over 10
//! distinct operations must cost exactly 10 executions; what it costs per registration
//! is the fan-out's price (render once, queue 10,000 frames).
//!
//! The hub runs as in the server (real schema, real practice on a temporary SQLite
//! database, the in-process bus); each registration has an outbound queue of its own, as a
//! websocket does, and the time runs from the publish until every queue holds the event.

use async_graphql::{Request, Variables};
use chrono::Utc;
use clinicstream::auth::{Auth, Principal};
use clinicstream::events::{Payload, StoredEvent, StreamTransport, TransportLabel};
use clinicstream::hub::{Outbound, Subscribe, Subscribed, Tag};
use clinicstream::vocab::{EventType, Patient};
use clinicstream::{App, Config};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REGISTRATIONS: usize = 10_000;
const OPERATIONS: usize = 10;

fn patient_event(practice_id: &str, seq: i64) -> StoredEvent {
    let patient = Patient {
        id: "pat_bench".into(),
        practice_id: practice_id.into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        email: None,
        phone: None,
        date_of_birth: None,
        balance_cents: 0,
        created_at: Utc::now(),
    };
    StoredEvent {
        practice_id: practice_id.to_string(),
        seq,
        event_type: EventType::PatientCreated,
        occurred_at: Utc::now(),
        payload: Payload::Patient { patient: Arc::new(patient) },
        trace: None,
    }
}

fn shared_execution(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = std::env::temp_dir().join(format!("clinicstream-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/bench.sqlite?mode=rwc", dir.display());
    let mut config = Config::with_database(&url);
    config.listen_addr = "127.0.0.1:0".into();
    let (app, practice_id, outbounds) = runtime.block_on(async {
        let app = App::build(config).await.unwrap();
        let state = app.state().clone();
        let create = Request::new(
            "mutation { createPractice(input: {name: \"Bench\", timezone: \"UTC\", currency: \"USD\"}) { id } }",
        )
        .data(Auth(Some(Principal::bootstrap())));
        let created = state.schema.execute(create).await.data.into_json().unwrap();
        let practice_id = created["createPractice"]["id"].as_str().unwrap().to_string();
        let mut outbounds = Vec::new();
        let mut registrations = Vec::new();
        for i in 0..REGISTRATIONS {
            let query =
                format!("subscription($p: ID!) {{ op{}: events(practiceId: $p) {{ seq type }} }}", i % OPERATIONS);
            let request = Request::new(query).variables(Variables::from_json(serde_json::json!({ "p": practice_id })));
            let principal = Principal::bootstrap();
            let subscribe = Subscribe {
                request,
                principal,
                session: None,
                after: None,
                transport: StreamTransport::Websocket,
                turn: None,
            };
            let outbound = Outbound::new(1 << 20);
            match state.hubs.subscribe(subscribe, &outbound, &Tag::new("1")).await {
                Subscribed::Registered(registration) => registrations.push(registration),
                _ => panic!("every subscription is served by the hub"),
            }
            outbounds.push(outbound);
        }
        std::mem::forget(registrations); // held for the whole run
        (app, practice_id, outbounds)
    });
    let state = app.state().clone();
    let counters = state.services.domain.counters.clone();
    let delivered = counters.delivered.get_or_create(&TransportLabel::of(StreamTransport::Websocket)).clone();
    let mut seq = 0;
    let mut group = c.benchmark_group("hub");
    group.throughput(Throughput::Elements(REGISTRATIONS as u64));
    group.sample_size(20);
    group.bench_function("one_event_10000_registrations_10_operations", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                seq += 1;
                let (before, executions) = (delivered.get(), counters.shared_executions.get());
                let started = Instant::now();
                state.services.domain.bus.publish(Arc::new(patient_event(&practice_id, seq)));
                runtime.block_on(async {
                    while delivered.get() < before + REGISTRATIONS as u64 {
                        tokio::task::yield_now().await;
                    }
                });
                spent += started.elapsed();
                assert_eq!(
                    counters.shared_executions.get() - executions,
                    OPERATIONS as u64,
                    "one execution per operation"
                );
                let mut frames = Vec::new();
                for outbound in &outbounds {
                    runtime.block_on(outbound.take(4, &mut frames));
                    frames.clear();
                }
            }
            spent
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, shared_execution);
criterion_main!(benches);

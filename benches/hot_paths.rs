//! Micro-benchmarks of the delivery hot paths, so a regression shows up in `cargo bench`
//! before it shows up in a load test (BENCHMARKS.md has the end-to-end figures):
//!
//! - `event/encode` and `event/decode`: an event's stored snapshot to and from JSON (every
//!   append encodes one; every replay or catch-up from the log decodes one);
//! - `event/cursor`: the opaque cursor every delivered event carries;
//! - `fanout/in_process_bus/N`: one event published on the in-process bus and received by
//!   N subscribers of its practice, each a task of its own as a websocket's feed is;
//! - `metering/usage_delivery` and `metering/audit_delivery`: what one delivery adds for
//!   usage metering and for the audit trail's per-patient count (issue 20);
//!   `metering/usage_delivery_to` is the hub's path (keyed by the subscriber's address).

use chrono::{TimeZone, Utc};
use clinicstream::events::{BusMessage, EventBus, MemoryBus, Payload, StoredEvent};
use clinicstream::vocab::{EventType, Patient, Payment, PaymentMethod};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use tokio::sync::mpsc;

fn payment_event(seq: i64) -> StoredEvent {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 30, 0).unwrap();
    let patient = Patient {
        id: "pat_01JD2Z7Q9V3K8M4N5P6R7S8T9V".into(),
        practice_id: "prc_01JD2Z7Q9V3K8M4N5P6R7S8T9V".into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        email: Some("ada@example.com".into()),
        phone: Some("+44 20 7946 0000".into()),
        date_of_birth: None,
        balance_cents: -2500,
        created_at: at,
    };
    let payment = Payment {
        id: "pay_01JD2Z7Q9V3K8M4N5P6R7S8T9V".into(),
        practice_id: patient.practice_id.clone(),
        patient_id: patient.id.clone(),
        amount_cents: 2500,
        method: PaymentMethod::Card,
        reference: Some("INV-2026-0042".into()),
        posted_at: at,
    };
    StoredEvent {
        practice_id: patient.practice_id.to_string(),
        seq,
        event_type: EventType::PaymentPosted,
        occurred_at: at,
        payload: Payload::Payment { payment: Arc::new(payment), patient: Arc::new(patient) },
        trace: None,
    }
}

fn event(c: &mut Criterion) {
    let event = payment_event(42);
    let json = serde_json::to_string(&event.payload).unwrap();
    let mut group = c.benchmark_group("event");
    group.bench_function("encode", |b| b.iter(|| serde_json::to_string(black_box(&event.payload)).unwrap()));
    group.bench_function("decode", |b| b.iter(|| Payload::decode(EventType::PaymentPosted, black_box(&json)).unwrap()));
    group.bench_function("cursor", |b| b.iter(|| black_box(&event).cursor()));
    group.finish();
}

/// Publishes one event to `n` subscriber tasks and waits until every one has it.
fn fanout(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut group = c.benchmark_group("fanout");
    for n in [100usize, 1000] {
        let bus = Arc::new(MemoryBus::new(1024));
        let practice = payment_event(0).practice_id;
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
        runtime.block_on(async {
            for _ in 0..n {
                let mut subscription = bus.subscribe(&practice).await;
                let done = done_tx.clone();
                tokio::spawn(async move {
                    while let Ok(BusMessage::Event(event)) = subscription.receiver.recv().await {
                        black_box(event.seq);
                        let _ = done.send(());
                    }
                });
            }
        });
        let mut seq = 0;
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("in_process_bus", n), &n, |b, &n| {
            b.iter(|| {
                seq += 1;
                bus.publish(Arc::new(payment_event(seq)));
                runtime.block_on(async {
                    for _ in 0..n {
                        done_rx.recv().await.unwrap();
                    }
                });
            })
        });
    }
    group.finish();
}

/// The two calls the hub makes per queued frame (usage, then the audit count).
fn metering(c: &mut Criterion) {
    use clinicstream::audit::{Actor, Recorder};
    use clinicstream::usage::{Meter, UsageKey};
    use clinicstream::vocab::{Role, Transport};
    let clock: clinicstream::clock::SharedClock = Arc::new(clinicstream::clock::SystemClock);
    let meter = Meter::new(clock.clone());
    let who = UsageKey::new("prc_01JD2Z7Q9V3K8M4N5P6R7S8T9V", Some("key_01JD2Z7Q9V3K8M4N5P6R7S8T9V"));
    let recorder = Arc::new(Recorder::new(true, clock));
    let actor = Actor {
        api_key_id: Some("key_01JD2Z7Q9V3K8M4N5P6R7S8T9V".into()),
        subject: None,
        actor_name: None,
        role: Role::Subscriber,
        transport: Transport::Websocket,
        operation_name: Some("Watch".into()),
    };
    let filter =
        format!("subscription Watch($p: ID!) {{ paymentPosted(practiceId: $p) {{ seq }} }} {}", "x".repeat(200));
    let watch = recorder.watch("prc_01JD2Z7Q9V3K8M4N5P6R7S8T9V", actor, Some(filter), true);
    let mut group = c.benchmark_group("metering");
    group.bench_function("usage_delivery", |b| {
        b.iter(|| meter.delivered(black_box(&who), Transport::Websocket, EventType::PaymentPosted))
    });
    let subscriber = Arc::new(who.clone());
    group.bench_function("usage_delivery_to", |b| {
        b.iter(|| meter.delivered_to(black_box(&subscriber), Transport::Websocket, EventType::PaymentPosted))
    });
    group.bench_function("audit_delivery", |b| b.iter(|| watch.delivered(black_box("pat_01JD2Z7Q9V3K8M4N5P6R7S8T9V"))));
    group.finish();
}

criterion_group!(benches, event, fanout, metering);
criterion_main!(benches);

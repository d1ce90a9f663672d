//! Payments at a fixed rate, open loop: one is sent every 1/rate seconds whether or not
//! earlier ones have been answered, so a slow server shows up as latency, not as a
//! quietly lower rate. Payment n goes to practice n mod `--practices`, with that
//! practice's BACKOFFICE key and patient. Each payment's `reference` carries its send time.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tokio::time::MissedTickBehavior;

use crate::Args;
use crate::fixture::{Http, Practice, practice_of};
use crate::stats::Shared;

const POST_PAYMENT: &str = "mutation($i: PostPaymentInput!) { postPayment(input: $i) { id } }";

/// Where a `reference` starts when loadgen wrote it; the rest is the send time in µs.
pub const REFERENCE_PREFIX: &str = "lg:";

#[derive(Clone, Debug, Default)]
pub struct Posted {
    pub ok: u64,
    /// `ok` per practice, in the fixture's order: what each practice's subscriptions are owed.
    pub ok_by_practice: Vec<u64>,
    pub failed: u64,
    /// Ticks that found `--max-in-flight` requests unanswered, so sent nothing.
    pub not_sent: u64,
    pub secs: f64,
}

impl Posted {
    /// The successful payments of `practice` (none when nothing was posted).
    pub fn ok_of(&self, practice: usize) -> u64 {
        self.ok_by_practice.get(practice).copied().unwrap_or(0)
    }
}

pub async fn run(args: &Args, http: &Http, practices: &[Practice], shared: Arc<Shared>) -> Posted {
    let total = u64::from(args.rate) * args.duration;
    let in_flight = Arc::new(Semaphore::new(args.max_in_flight));
    let ok: Arc<Vec<AtomicU64>> = Arc::new(practices.iter().map(|_| AtomicU64::new(0)).collect());
    let failed = Arc::new(AtomicU64::new(0));
    let mut not_sent = 0;
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        ticks.tick().await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            not_sent += 1;
            continue;
        };
        let practice = practice_of(n as usize, practices.len());
        let sent_micros = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros();
        let variables = json!({ "i": {
            "patientId": practices[practice].patient_id,
            "amountCents": 100,
            "method": "CARD",
            "reference": format!("{REFERENCE_PREFIX}{sent_micros}"),
        }});
        let (http, key) = (http.clone(), practices[practice].writer_key.clone());
        let (shared, ok, failed) = (shared.clone(), ok.clone(), failed.clone());
        let request = async move {
            let sent = Instant::now();
            let outcome = http.call(&key, POST_PAYMENT, variables).await;
            shared.mutation.record(n as usize, sent.elapsed().as_micros() as u64);
            match outcome {
                Ok(_) => ok[practice].fetch_add(1, Ordering::Relaxed),
                Err(error) => {
                    if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("postPayment failed: {error:#}");
                    }
                    0
                }
            };
            drop(permit);
        };
        tasks.spawn(request);
        while tasks.try_join_next().is_some() {}
    }
    let secs = started.elapsed().as_secs_f64();
    while tasks.join_next().await.is_some() {}
    let ok_by_practice: Vec<u64> = ok.iter().map(|n| n.load(Ordering::Relaxed)).collect();
    Posted { ok: ok_by_practice.iter().sum(), ok_by_practice, failed: failed.load(Ordering::Relaxed), not_sent, secs }
}

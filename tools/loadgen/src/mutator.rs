//! Payments at a fixed rate, open loop: one is sent every 1/rate seconds whether or not
//! earlier ones have been answered, so a slow server shows up as latency, not as a
//! quietly lower rate. Payment n goes to practice n mod `--practices`, with that
//! practice's BACKOFFICE key, for its patient (or, in the patient scenario, for its
//! patients in turn). Each payment's `reference` carries its send time.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tokio::time::MissedTickBehavior;

use crate::Args;
use crate::fixture::{Http, Practice, patient_of, practice_of};
use crate::stats::Shared;

const POST_PAYMENT: &str = "mutation($i: PostPaymentInput!) { postPayment(input: $i) { id } }";

/// Where a `reference` starts when loadgen wrote it; the rest is the send time in µs.
pub const REFERENCE_PREFIX: &str = "lg:";

#[derive(Clone, Debug, Default)]
pub struct Posted {
    pub ok: u64,
    /// `ok` per practice, in the fixture's order: what each practice's subscriptions are owed.
    pub ok_by_practice: Vec<u64>,
    /// `ok` per practice and patient (the patient scenario): what each patient's are owed.
    pub ok_by_patient: Vec<Vec<u64>>,
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

    /// What a subscription on `practice` is owed: the practice's payments, or only its
    /// patient's when it signed in as one.
    pub fn owed(&self, practice: usize, patient: Option<usize>) -> u64 {
        match patient {
            Some(patient) => self.ok_by_patient.get(practice).and_then(|p| p.get(patient)).copied().unwrap_or(0),
            None => self.ok_of(practice),
        }
    }
}

pub async fn run(args: &Args, http: &Http, practices: &[Practice], shared: Arc<Shared>) -> Posted {
    let total = u64::from(args.rate) * args.duration;
    let in_flight = Arc::new(Semaphore::new(args.max_in_flight));
    let counters = |p: &Practice| p.patients.iter().map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
    let ok: Arc<Vec<Vec<AtomicU64>>> = Arc::new(practices.iter().map(counters).collect());
    let turns = args.patient_token_key.is_some();
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
        let on = &practices[practice];
        let patient = if turns { patient_of(n as usize, practices.len()) % on.patients.len() } else { 0 };
        let sent_micros = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros();
        let variables = json!({ "i": {
            "patientId": on.patients[patient],
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
                Ok(_) => ok[practice][patient].fetch_add(1, Ordering::Relaxed),
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
    let ok_by_patient: Vec<Vec<u64>> =
        ok.iter().map(|patients| patients.iter().map(|n| n.load(Ordering::Relaxed)).collect()).collect();
    let ok_by_practice: Vec<u64> = ok_by_patient.iter().map(|patients| patients.iter().sum()).collect();
    let ok = ok_by_practice.iter().sum();
    Posted { ok, ok_by_practice, ok_by_patient, failed: failed.load(Ordering::Relaxed), not_sent, secs }
}

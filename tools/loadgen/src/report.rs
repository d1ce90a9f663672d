//! The summary of a run: figures for people on stdout, then one JSON line (prefixed
//! `JSON `) for scripts that take medians. Per-target and per-server figures are objects
//! keyed by target address and server index, so `bench/median.py` reaches them too.

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use crate::Args;
use crate::churn::{self, ChurnTrack};
use crate::eventlog::Tail;
use crate::memory::Memory;
use crate::mutator::Posted;
use crate::servers::{Point, ProcSample, Samples, series_summary};
use crate::stats::{Shared, SubTrack};
use crate::subscriber::Tracks;

/// The payment phase: from the first payment to the end of the drain.
pub struct Window {
    /// Seconds since loadgen started (the origin of the RSS series).
    pub started_secs: f64,
    pub secs: f64,
}

pub struct Inputs<'a> {
    pub args: &'a Args,
    pub connect_secs: f64,
    pub window: Window,
    pub posted: Posted,
    /// Every steady socket's subscriptions, with its target and practice.
    pub subs: Vec<Tracks>,
    pub shared: &'a Shared,
    pub memory: &'a Memory,
    /// The servers at the first payment and after the drain.
    pub server: [Samples; 2],
    /// The servers' shared executions during the payment phase, if `/metrics` answered.
    pub executions: Option<u64>,
    /// Loadgen itself at the first payment and after the drain.
    pub loadgen: [ProcSample; 2],
    pub churn: Option<(Vec<ChurnTrack>, Tail)>,
    pub series: Vec<Point>,
}

pub struct Summary(Value);

/// A subscription and the deliveries it is owed: its practice's (or patient's) successful payments.
type Owed<'a> = (&'a SubTrack, u64);

impl Summary {
    pub fn new(i: Inputs<'_>) -> Self {
        let ok = i.posted.ok;
        let all = owed(i.subs.iter(), &i.posted);
        let window = i.window.secs;
        let mut by_target = Map::new();
        for (t, target) in i.args.target.iter().enumerate() {
            let on = owed(i.subs.iter().filter(|socket| socket.target == t), &i.posted);
            let mut figures = deliveries(&on, window);
            figures["end_to_end_ms"] = percentiles(&i.shared.end_to_end_by_target[t].merged());
            by_target.insert(target.to_string(), figures);
        }
        let mut delivered = deliveries(&all, window);
        delivered["socket_errors"] = json!(i.shared.error_count());
        delivered["end_to_end_ms"] = percentiles(&i.shared.end_to_end.merged());
        delivered["commit_to_delivery_ms"] = percentiles(&i.shared.commit_to_delivery.merged());
        delivered["by_target"] = Value::Object(by_target);
        let mut summary = json!({
            "label": i.args.label,
            "targets": i.args.target.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "mutate_target": i.args.mutate_target().to_string(),
            "practices": i.args.practices,
            "connections": i.args.connections,
            "subs_per_conn": i.args.subs_per_conn,
            "extra_subs_per_conn": i.args.extra_subs_per_conn,
            "subscriptions": all.len(),
            "source_addrs": i.args.source_addrs,
            "rate": i.args.rate,
            "duration_secs": i.args.duration,
            "connect_secs": round(i.connect_secs),
            "window_secs": round(window),
            "mutations": {
                "ok": ok, "failed": i.posted.failed, "not_sent": i.posted.not_sent,
                "per_sec": per_sec(ok, i.posted.secs),
                "latency_ms": percentiles(&i.shared.mutation.merged()),
            },
            "deliveries": delivered,
            "executions": {
                "shared": i.executions,
                "per_event": i.executions.filter(|_| ok > 0).map(|n| round(n as f64 / ok as f64)),
            },
            "patient_tokens": i.args.patient_token_key.is_some(),
            "memory": i.memory.summary(i.args),
            "server": server(&i),
            "loadgen_cpu_secs": round(i.loadgen[1].cpu_secs - i.loadgen[0].cpu_secs),
            "churn": i.churn.as_ref().map(|(tracks, tail)| churn::summary(tracks, tail, i.args.churn_hold_ms)),
        });
        let soak = series_summary(&i.series, i.window.started_secs, i.window.started_secs + window);
        summary.as_object_mut().expect("an object").extend(soak.as_object().cloned().unwrap_or_default());
        Self(summary)
    }

    pub fn print(&self) {
        crate::report_text::print(&self.0);
        println!("JSON {}", self.0);
    }
}

/// Every subscription of `sockets`, with what it is owed.
fn owed<'a>(sockets: impl Iterator<Item = &'a Tracks>, posted: &Posted) -> Vec<Owed<'a>> {
    sockets
        .flat_map(|socket| socket.subs.iter().map(|sub| (sub, posted.owed(socket.practice, socket.patient))))
        .collect()
}

/// Delivery accounting over some subscriptions, each against what it is owed.
fn deliveries(subs: &[Owed], window: f64) -> Value {
    let delivered: u64 = subs.iter().map(|(s, _)| s.distinct).sum();
    json!({
        "subscriptions": subs.len(),
        "expected": subs.iter().map(|(_, owed)| owed).sum::<u64>(), "delivered": delivered,
        "per_sec": per_sec(delivered, window),
        "lost": subs.iter().map(|(s, owed)| owed.saturating_sub(s.distinct)).sum::<u64>(),
        "subs_with_loss": subs.iter().filter(|(s, owed)| s.distinct < *owed).count(),
        "duplicates": subs.iter().map(|(s, _)| s.duplicates).sum::<u64>(),
        "out_of_order": subs.iter().map(|(s, _)| s.out_of_order).sum::<u64>(),
    })
}

/// The servers summed (one server: its own figures), and each one when there are several.
fn server(i: &Inputs<'_>) -> Value {
    let (Some(before), Some(subscribed)) = (&i.memory.before, &i.memory.subscribed) else { return Value::Null };
    let window = i.window.secs;
    // Per subscription of the first `--subs-per-conn` ones, which `rss_subscribed` holds.
    let figures = |pick: &dyn Fn(&[ProcSample]) -> Vec<ProcSample>, subs: u64| {
        let sum = |samples: &[ProcSample]| {
            pick(samples).iter().fold(ProcSample::default(), |a, s| ProcSample {
                rss_kib: a.rss_kib + s.rss_kib,
                anon_kib: a.anon_kib + s.anon_kib,
                hwm_kib: a.hwm_kib + s.hwm_kib,
                cpu_secs: a.cpu_secs + s.cpu_secs,
            })
        };
        let (before, subscribed) = (sum(&before.samples), sum(&subscribed.samples));
        let (start, end) = (sum(&i.server[0]), sum(&i.server[1]));
        let cpu = end.cpu_secs - start.cpu_secs;
        json!({
            "rss_before_kib": before.rss_kib,
            "rss_subscribed_kib": subscribed.rss_kib,
            "rss_end_kib": end.rss_kib,
            "hwm_kib": end.hwm_kib,
            "bytes_per_subscription": (subscribed.rss_kib.saturating_sub(before.rss_kib) * 1024).checked_div(subs),
            "cpu_secs": round(cpu),
            "cpu_percent": if window > 0.0 { round(100.0 * cpu / window) } else { 0.0 },
        })
    };
    let mut all = figures(&|samples| samples.to_vec(), (i.args.connections * i.args.subs_per_conn) as u64);
    let servers = i.server[0].len();
    if servers > 1 {
        // Server n serves target n when there are as many of each (run.sh passes them so).
        let expected = &i.memory.confirmed.expected;
        let subs_on = |n: usize| if expected.len() == servers { expected[n] } else { 0 };
        let each: Map<String, Value> =
            (0..servers).map(|n| (n.to_string(), figures(&|samples| vec![samples[n]], subs_on(n)))).collect();
        all["by_server"] = Value::Object(each);
    }
    all
}

pub fn percentiles(h: &Histogram<u64>) -> Value {
    let ms = |micros: u64| round(micros as f64 / 1000.0);
    json!({
        "count": h.len(),
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "max": ms(h.max()),
    })
}

fn per_sec(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { round(n as f64 / secs) } else { 0.0 }
}

pub fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

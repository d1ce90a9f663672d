//! The summary of a run: figures for people on stderr-free stdout, then one JSON line
//! (prefixed `JSON `) for scripts that take medians.

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::time::Duration;

use crate::Args;
use crate::mutator::Posted;
use crate::stats::{ProcSample, Shared, SubTrack};

pub struct Inputs<'a> {
    pub args: &'a Args,
    pub connect_secs: f64,
    /// From the first payment to the end of the drain.
    pub window: Duration,
    pub posted: Posted,
    pub subs: Vec<SubTrack>,
    pub shared: &'a Shared,
    /// The server before connecting, once subscribed, at the first payment, after the drain.
    pub server: [Option<ProcSample>; 4],
    /// Loadgen itself at the first payment and after the drain.
    pub loadgen: [ProcSample; 2],
}

pub struct Summary(Value);

impl Summary {
    pub fn new(i: Inputs<'_>) -> Self {
        let ok = i.posted.ok;
        let subscriptions = i.subs.len() as u64;
        let delivered: u64 = i.subs.iter().map(|s| s.distinct).sum();
        let lost: u64 = i.subs.iter().map(|s| ok.saturating_sub(s.distinct)).sum();
        let subs_with_loss = i.subs.iter().filter(|s| s.distinct < ok).count();
        let window = i.window.as_secs_f64();
        let server = match i.server {
            [Some(before), Some(subscribed), Some(start), Some(end)] => {
                let cpu = end.cpu_secs - start.cpu_secs;
                json!({
                    "rss_before_kib": before.rss_kib,
                    "rss_subscribed_kib": subscribed.rss_kib,
                    "rss_end_kib": end.rss_kib,
                    "hwm_kib": end.hwm_kib,
                    "bytes_per_subscription": (subscribed.rss_kib.saturating_sub(before.rss_kib) * 1024)
                        .checked_div(subscriptions),
                    "cpu_secs": round(cpu),
                    "cpu_percent": round(100.0 * cpu / window),
                })
            }
            _ => Value::Null,
        };
        Self(json!({
            "label": i.args.label,
            "connections": i.args.connections,
            "subs_per_conn": i.args.subs_per_conn,
            "subscriptions": subscriptions,
            "source_addrs": i.args.source_addrs,
            "rate": i.args.rate,
            "duration_secs": i.args.duration,
            "connect_secs": round(i.connect_secs),
            "window_secs": round(window),
            "mutations": {
                "ok": ok, "failed": i.posted.failed, "not_sent": i.posted.not_sent,
                "per_sec": round(ok as f64 / i.posted.secs),
                "latency_ms": percentiles(&i.shared.mutation.merged()),
            },
            "deliveries": {
                "expected": ok * subscriptions, "delivered": delivered,
                "per_sec": round(delivered as f64 / window),
                "lost": lost, "subs_with_loss": subs_with_loss,
                "duplicates": i.subs.iter().map(|s| s.duplicates).sum::<u64>(),
                "out_of_order": i.subs.iter().map(|s| s.out_of_order).sum::<u64>(),
                "socket_errors": i.shared.error_count(),
                "end_to_end_ms": percentiles(&i.shared.end_to_end.merged()),
                "commit_to_delivery_ms": percentiles(&i.shared.commit_to_delivery.merged()),
            },
            "server": server,
            "loadgen_cpu_secs": round(i.loadgen[1].cpu_secs - i.loadgen[0].cpu_secs),
        }))
    }

    pub fn print(&self) {
        let v = &self.0;
        let (m, d, s) = (&v["mutations"], &v["deliveries"], &v["server"]);
        let pct = |h: &Value| format!("p50 {} p90 {} p99 {} max {} ms", h["p50"], h["p90"], h["p99"], h["max"]);
        println!("loadgen {}: {} subscriptions on {} connections", v["label"], v["subscriptions"], v["connections"]);
        println!(
            "  mutations: {} ok, {} failed, {} not sent, {}/s; {}",
            m["ok"],
            m["failed"],
            m["not_sent"],
            m["per_sec"],
            pct(&m["latency_ms"])
        );
        println!(
            "  deliveries: {} of {} ({}/s over {} s); lost {} ({} subscriptions), duplicates {}, out of order {}, socket errors {}",
            d["delivered"],
            d["expected"],
            d["per_sec"],
            v["window_secs"],
            d["lost"],
            d["subs_with_loss"],
            d["duplicates"],
            d["out_of_order"],
            d["socket_errors"]
        );
        println!("  end to end (payment sent → event read): {}", pct(&d["end_to_end_ms"]));
        println!("  commit → delivery (occurredAt → read):  {}", pct(&d["commit_to_delivery_ms"]));
        if !s.is_null() {
            println!(
                "  server: RSS {} → {} → {} KiB (peak {}), {} B/subscription, {} CPU s ({}%)",
                s["rss_before_kib"],
                s["rss_subscribed_kib"],
                s["rss_end_kib"],
                s["hwm_kib"],
                s["bytes_per_subscription"],
                s["cpu_secs"],
                s["cpu_percent"]
            );
        }
        println!("  loadgen CPU s: {}", v["loadgen_cpu_secs"]);
        println!("JSON {}", self.0);
    }
}

fn percentiles(h: &Histogram<u64>) -> Value {
    let ms = |micros: u64| round(micros as f64 / 1000.0);
    json!({
        "count": h.len(),
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "max": ms(h.max()),
    })
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

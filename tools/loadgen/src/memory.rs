//! The S1 memory phases: server RSS before connecting, once every socket runs its
//! `--subs-per-conn` subscriptions, again after `--extra-subs-per-conn` more each, and
//! once every client has left (the RSS a storm leaves behind), every reading taken once
//! RSS has settled and the servers' gauge shows the subscriptions open (or closed), so
//! the differences are the cost of a connection and of a subscription rather than of
//! whatever was still being set up.

use serde_json::{Value, json};
use std::time::Duration;

use crate::Args;
use crate::gauge::Confirmed;
use crate::servers::{Samples, Servers, rss};

/// One settled reading of the servers.
/// How long RSS must hold still for a reading while clients are connected.
pub const HELD: Duration = Duration::from_millis(500);
/// How long it must hold still once every client has left: longer than a server that hands
/// memory back on a timer (ours, about every 1.1 s) takes to do it twice, so the reading is
/// the RSS the server keeps, not the moment before its allocator's next collection.
pub const HELD_AFTER_LEAVING: Duration = Duration::from_secs(3);

pub struct Phase {
    pub samples: Samples,
    /// Open file descriptors per server.
    pub fds: Vec<u64>,
    pub settle_secs: f64,
}

impl Phase {
    /// Settles (RSS steady over `held`) and reads the servers; `None` without `--server-pid`.
    pub async fn record(servers: &Servers, name: &str, held: Duration) -> anyhow::Result<Option<Self>> {
        if servers.is_empty() {
            return Ok(None);
        }
        let (samples, settle_secs) = servers.settle(held).await?;
        let fds = servers.open_fds()?;
        eprintln!(
            "server {name}: RSS {} KiB {:?}, open fds {:?} (settled in {settle_secs:.1}s)",
            rss(&samples),
            samples.iter().map(|s| s.rss_kib).collect::<Vec<_>>(),
            fds
        );
        Ok(Some(Self { samples, fds, settle_secs }))
    }

    fn rss_kib(&self) -> i64 {
        rss(&self.samples) as i64
    }

    fn anon_kib(&self) -> i64 {
        self.samples.iter().map(|s| s.anon_kib).sum::<u64>() as i64
    }
}

pub struct Memory {
    pub before: Option<Phase>,
    pub subscribed: Option<Phase>,
    pub extra: Option<Phase>,
    /// After every client has left and the server closed their subscriptions.
    pub left: Option<Phase>,
    pub confirmed: Confirmed,
    pub confirmed_extra: Option<Confirmed>,
}

impl Memory {
    pub fn summary(&self, args: &Args) -> Value {
        let confirmed =
            |c: &Confirmed| json!({ "ok": c.ok(), "expected": c.expected, "seen": c.seen, "secs": round(c.secs) });
        let mut out = json!({
            "subscriptions_confirmed": confirmed(&self.confirmed),
            "extra_subscriptions_confirmed": self.confirmed_extra.as_ref().map(confirmed),
        });
        let (Some(before), Some(subscribed)) = (&self.before, &self.subscribed) else { return out };
        let connections = args.connections as i64;
        let per_connection = ((subscribed.rss_kib() - before.rss_kib()) * 1024).checked_div(connections);
        let extra = self.extra.as_ref();
        let extra_subs = connections * args.extra_subs_per_conn as i64;
        let per_extra = extra.and_then(|e| ((e.rss_kib() - subscribed.rss_kib()) * 1024).checked_div(extra_subs));
        let fds = |p: &Phase| p.fds.iter().sum::<u64>();
        out["rss_before_kib"] = json!(before.rss_kib());
        out["rss_subscribed_kib"] = json!(subscribed.rss_kib());
        out["rss_extra_kib"] = json!(extra.map(Phase::rss_kib));
        out["fds_before"] = json!(fds(before));
        out["fds_subscribed"] = json!(fds(subscribed));
        out["fds_extra"] = json!(extra.map(fds));
        if let Some(left) = &self.left {
            out["rss_left_kib"] = json!(left.rss_kib());
            out["fds_left"] = json!(fds(left));
            // Against the idle baseline: the target is within 10 % once every client left.
            let over = |left: i64, before: i64| json!(round((left - before) as f64 * 100.0 / before.max(1) as f64));
            out["rss_left_over_before_pct"] = over(left.rss_kib(), before.rss_kib());
            // The same for anonymous memory alone: RSS also counts the executable's pages
            // that the load ran for the first time, which stay mapped and are not the heap.
            out["rss_anon_before_kib"] = json!(before.anon_kib());
            out["rss_anon_left_kib"] = json!(left.anon_kib());
            out["rss_anon_left_over_before_pct"] = over(left.anon_kib(), before.anon_kib());
        }
        out["rss_per_connection_bytes"] = json!(per_connection);
        out["rss_per_extra_subscription_bytes"] = json!(per_extra);
        out["settle_secs"] = json!([
            round(before.settle_secs),
            round(subscribed.settle_secs),
            extra.map(|e| round(e.settle_secs)),
            self.left.as_ref().map(|l| round(l.settle_secs))
        ]);
        out
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

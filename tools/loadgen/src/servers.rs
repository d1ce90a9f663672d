//! The server processes under load, read from /proc: memory, CPU seconds and open file
//! descriptors per `--server-pid`, a wait for memory to settle (RSS keeps moving for a
//! moment after sockets open, as the allocator hands pages back), and the RSS series a
//! soak is judged by.

use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stats::Shared;

/// How often a settling RSS is read, how close two reads must be, and how long to try.
const SETTLE_EVERY: Duration = Duration::from_millis(500);
const SETTLE_WITHIN: f64 = 0.005;
const SETTLE_AT_MOST: Duration = Duration::from_secs(15);

/// A process whose memory and CPU time are read from /proc.
pub struct Proc(u32);

#[derive(Clone, Copy, Debug, Default)]
pub struct ProcSample {
    pub rss_kib: u64,
    /// The anonymous part of RSS (heap, stacks): what the allocator holds. The rest is
    /// mostly the executable's pages, read in the first time their code runs.
    pub anon_kib: u64,
    pub hwm_kib: u64,
    pub cpu_secs: f64,
}

impl Proc {
    pub fn new(pid: u32) -> Self {
        Self(pid)
    }

    pub fn sample(&self) -> anyhow::Result<ProcSample> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0))?;
        // Fields after the parenthesised command name; utime and stime are the 14th and
        // 15th fields of the line, in clock ticks (USER_HZ, 100 on Linux).
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let ticks: u64 = after.split_whitespace().skip(11).take(2).filter_map(|n| n.parse::<u64>().ok()).sum();
        Ok(ProcSample {
            rss_kib: field("VmRSS:"),
            anon_kib: field("RssAnon:"),
            hwm_kib: field("VmHWM:"),
            cpu_secs: ticks as f64 / 100.0,
        })
    }

    /// Open file descriptors: the server's sockets (clients, database, Redis, listener)
    /// plus a handful of files, so it tracks the connections it holds.
    pub fn open_fds(&self) -> anyhow::Result<u64> {
        Ok(std::fs::read_dir(format!("/proc/{}/fd", self.0))?.count() as u64)
    }
}

/// Every `--server-pid`, in the order given (run.sh gives them in `--target` order).
pub struct Servers(Vec<Proc>);

/// One reading of every server.
pub type Samples = Vec<ProcSample>;

impl Servers {
    pub fn new(pids: &[u32]) -> Self {
        Self(pids.iter().copied().map(Proc::new).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn sample(&self) -> anyhow::Result<Samples> {
        self.0.iter().map(Proc::sample).collect()
    }

    pub fn open_fds(&self) -> anyhow::Result<Vec<u64>> {
        self.0.iter().map(Proc::open_fds).collect()
    }

    /// Reads RSS every 500 ms until every read over the last `held` (summed over the
    /// servers) is within 0.5 % of the others, or 15 s pass. Returns the last reading and
    /// the seconds it took. `held` of 500 ms is two reads in a row.
    pub async fn settle(&self, held: Duration) -> anyhow::Result<(Samples, f64)> {
        let started = Instant::now();
        let reads = (held.as_millis() / SETTLE_EVERY.as_millis()).max(1) as usize + 1;
        let mut window = std::collections::VecDeque::from([self.sample()?]);
        loop {
            tokio::time::sleep(SETTLE_EVERY).await;
            if window.len() == reads {
                window.pop_front();
            }
            window.push_back(self.sample()?);
            let (low, high) =
                window.iter().map(|s| rss(s) as f64).fold((f64::MAX, 0.0_f64), |(l, h), r| (l.min(r), h.max(r)));
            let settled = window.len() == reads && high - low <= SETTLE_WITHIN * high;
            if settled || started.elapsed() >= SETTLE_AT_MOST {
                let last = window.pop_back().expect("a reading");
                return Ok((last, started.elapsed().as_secs_f64()));
            }
        }
    }
}

/// RSS summed over the servers, in KiB.
pub fn rss(samples: &[ProcSample]) -> u64 {
    samples.iter().map(|s| s.rss_kib).sum()
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Point {
    pub t_secs: f64,
    /// Summed over the servers.
    pub rss_kib: u64,
    /// Open file descriptors, summed over the servers.
    pub connections: u64,
}

/// Reads the servers every `every` until the run stops; `t_secs` counts from `origin`.
pub async fn sample_series(servers: Servers, origin: Instant, every: Duration, shared: Arc<Shared>) -> Vec<Point> {
    let mut series = Vec::new();
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shared.stopped() => break,
            _ = ticks.tick() => {}
        }
        let (Ok(samples), Ok(fds)) = (servers.sample(), servers.open_fds()) else { break };
        let t_secs = (origin.elapsed().as_secs_f64() * 10.0).round() / 10.0;
        series.push(Point { t_secs, rss_kib: rss(&samples), connections: fds.iter().sum() });
    }
    series
}

/// The series with what a soak is judged by: the highest RSS in the first and in the last
/// minute of the window `[from, to]` seconds (from the first payment to the end of the
/// drain), and how much the second is above the first.
pub fn series_summary(series: &[Point], from: f64, to: f64) -> Value {
    let max_between =
        |a: f64, b: f64| series.iter().filter(|p| p.t_secs >= a && p.t_secs <= b).map(|p| p.rss_kib).max();
    let first = max_between(from, from + 60.0);
    let last = max_between((to - 60.0).max(from), to);
    let growth = first.zip(last).map(|(first, last)| last as i64 - first as i64);
    json!({
        "rss_series": series,
        "rss_first_minute_max_kib": first,
        "rss_last_minute_max_kib": last,
        "rss_growth_kib": growth,
    })
}

//! The servers' own count of open websocket subscriptions, read from `/metrics`.
//! graphql-transport-ws has no acknowledgement for `subscribe`, so this gauge is how
//! loadgen knows every subscription is live (the server raises it once the feed is open)
//! before it measures memory or sends the first payment. Also the servers' count of
//! shared executions, read before and after the payment phase (executions per event).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

const METRIC: &str = "clinicstream_subscriptions{transport=\"websocket\"}";
const EXECUTIONS: &str = "clinicstream_shared_executions_total";
const POLL_EVERY: Duration = Duration::from_millis(100);

/// What the wait ended with, per target.
#[derive(Debug, Default)]
pub struct Confirmed {
    pub expected: Vec<u64>,
    pub seen: Vec<Option<u64>>,
    pub secs: f64,
}

impl Confirmed {
    pub fn ok(&self) -> bool {
        self.expected.iter().zip(&self.seen).all(|(e, s)| s.is_some_and(|s| s >= *e))
    }
}

/// Polls every target's gauge until each shows at least its `expected` subscriptions
/// or `timeout` passes. A gauge that cannot be read keeps the wait going: a server busy
/// starting 135,000 subscriptions may not answer `/metrics` within the client's 5 s, and
/// taking that for "no gauge" sent payments while subscriptions were still starting (they
/// were then counted as lost).
pub async fn wait_for(targets: &[SocketAddr], expected: Vec<u64>, timeout: Duration) -> Confirmed {
    let started = Instant::now();
    let seen = poll(targets, timeout, |seen| expected.iter().zip(seen).all(|(e, s)| s.is_some_and(|s| s >= *e))).await;
    let confirmed = Confirmed { expected, seen, secs: started.elapsed().as_secs_f64() };
    if !confirmed.ok() {
        eprintln!(
            "open subscriptions not confirmed: expected {:?}, /metrics shows {:?}",
            confirmed.expected, confirmed.seen
        );
    }
    confirmed
}

/// Polls until every target's gauge shows no open subscription (every client has left,
/// and the server has closed what they held) or `timeout` passes; whether it did.
pub async fn wait_for_none(targets: &[SocketAddr], timeout: Duration) -> bool {
    let seen = poll(targets, timeout, |seen| seen.iter().all(|s| s.is_none_or(|s| s == 0))).await;
    let none = seen.iter().all(|s| s.is_some_and(|s| s == 0));
    if !none {
        eprintln!("open subscriptions after every client left: /metrics shows {seen:?}");
    }
    none
}

/// Reads every target's gauge until `done` says so or `timeout` passes.
async fn poll(targets: &[SocketAddr], timeout: Duration, done: impl Fn(&[Option<u64>]) -> bool) -> Vec<Option<u64>> {
    let started = Instant::now();
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build();
    let mut seen = vec![None; targets.len()];
    if let Ok(client) = client {
        loop {
            for (target, seen) in targets.iter().zip(&mut seen) {
                *seen = read(&client, *target, METRIC).await;
            }
            if done(&seen) || started.elapsed() >= timeout {
                break;
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
    if seen.iter().any(Option::is_none) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    seen
}

/// The shared executions the servers have run so far, summed; None if one cannot be read.
pub async fn executions(targets: &[SocketAddr]) -> Option<u64> {
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().ok()?;
    let mut sum = 0;
    for target in targets {
        sum += read(&client, *target, EXECUTIONS).await?;
    }
    Some(sum)
}

async fn read(client: &reqwest::Client, target: SocketAddr, metric: &str) -> Option<u64> {
    let response = client.get(format!("http://{target}/metrics")).send().await.ok()?;
    let body = response.error_for_status().ok()?.text().await.ok()?;
    // The server lists a series once it first moved: until then, 0.
    let value = body.lines().find_map(|line| line.strip_prefix(metric)?.trim().parse::<f64>().ok());
    Some(value.map_or(0, |n| n as u64))
}

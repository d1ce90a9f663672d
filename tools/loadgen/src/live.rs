//! The live-query scenario (`--live-queries N`, L1 in BENCHMARKS.md): one practice with
//! `--live-distinct` patients; `--connections` sockets hold N `query @live` in all, live
//! query i on patient i mod D (so D distinct operations); payments at `--rate` per second
//! go to the patients in turn, each with its own amount, so a result's balance says which
//! payment it shows. Measured: change → result latency (from sending the payment to
//! reading the result that shows it), the server's live-query executions per change
//! (`/metrics`), and RSS per extra live query (the same N again, on the same sockets and
//! the same D queries).

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::fixture::{Http, build_all};
use crate::servers::{Servers, rss};
use crate::stats::histogram;
use crate::subscriber::{Socket, connect};
use crate::{Args, source_addr};

const QUERY: &str = "query($id: ID!) @live { patient(id: $id) { id balanceCents } }";
/// The same result, plus a root field on the whole practice (its first appointment, of
/// which there are none): every event of the practice re-executes it, which is what
/// invalidating by practice alone would cost (`--live-by-practice`).
const BY_PRACTICE: &str = "query($id: ID!, $p: ID!) @live { patient(id: $id) { id balanceCents } \
                           appointments(practiceId: $p, first: 1) { edges { cursor } } }";

/// When each payment was sent, by (patient, the balance it leaves).
type Sent = Arc<Mutex<HashMap<(String, i64), Instant>>>;

pub async fn run(args: Args) -> anyhow::Result<()> {
    let total = args.live_queries;
    let distinct = args.live_distinct.max(1);
    let http = Http::new(args.mutate_target())?;
    let mut practice = build_all(&http, &args.admin_key, 1).await?.remove(0);
    practice.add_patients(&http, distinct).await?;
    let patients = practice.patients.clone();
    let servers = Servers::new(&args.server_pid);
    let sent: Sent = Arc::default();
    let latencies = Arc::new(Mutex::new(histogram()));
    let (before, _) = servers.settle(crate::memory::HELD).await?;
    let mut sockets = connect_all(&args, &practice.subscriber_key).await?;
    let query = if args.live_by_practice { BY_PRACTICE } else { QUERY };
    let on = (query, practice.practice_id.as_str());
    start(&mut sockets, on, &patients, 0..total).await?;
    let (with_n, _) = servers.settle(crate::memory::HELD).await?;
    start(&mut sockets, on, &patients, total..2 * total).await?;
    let (with_2n, _) = servers.settle(crate::memory::HELD).await?;
    let readers: Vec<JoinHandle<()>> =
        sockets.into_iter().map(|socket| tokio::spawn(read(socket, sent.clone(), latencies.clone()))).collect();
    latencies.lock().unwrap().reset();
    let executions_before = metric(&args, "clinicstream_live_executions_total").await?;
    let period = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let mut balances = vec![0i64; distinct];
    let mut tick = tokio::time::interval(period);
    let changes = args.rate as u64 * args.duration;
    let mut writes = Vec::new();
    for n in 0..changes {
        tick.tick().await;
        let p = n as usize % distinct;
        // Amounts differ per payment, so every balance a patient reaches is new.
        let amount = 100 + n as i64;
        balances[p] -= amount;
        sent.lock().unwrap().insert((patients[p].clone(), balances[p]), Instant::now());
        let (http, key, patient) = (http.clone(), practice.writer_key.clone(), patients[p].clone());
        writes.push(tokio::spawn(async move {
            http.call(
                &key,
                "mutation($p: ID!, $a: Int!) { postPayment(input: {patientId: $p, amountCents: $a, method: CARD}) { id } }",
                json!({ "p": patient, "a": amount }),
            )
            .await
        }));
    }
    for write in writes {
        write.await??;
    }
    // Every live query's last result must arrive: 2N results of the last change per patient.
    let expected = 2 * total as u64 * changes / distinct as u64;
    let deadline = Instant::now() + Duration::from_secs(args.drain_timeout);
    while latencies.lock().unwrap().len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let executions = metric(&args, "clinicstream_live_executions_total").await? - executions_before;
    let h = latencies.lock().unwrap().clone();
    for reader in readers {
        reader.abort();
    }
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let per_extra = (rss(&with_2n) as f64 - rss(&with_n) as f64) * 1024.0 / total as f64;
    println!(
        "live: {} live queries over {distinct} distinct, {changes} changes at {}/s: {} results (expected {expected}), \
         change→result p50 {:.2} ms p99 {:.2} ms max {:.2} ms; executions per change {:.2}; \
         RSS {} → {} → {} KiB: {:.0} bytes per extra live query",
        2 * total,
        args.rate,
        h.len(),
        ms(0.5),
        ms(0.99),
        h.max() as f64 / 1000.0,
        executions / changes as f64,
        rss(&before),
        rss(&with_n),
        rss(&with_2n),
        per_extra,
    );
    let line = json!({
        "label": args.label, "scenario": "live", "by_practice": args.live_by_practice, "live_queries": 2 * total, "distinct": distinct,
        "rate": args.rate, "changes": changes, "results": h.len(), "expected_results": expected,
        "p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": h.max() as f64 / 1000.0,
        "executions_per_change": executions / changes as f64,
        "rss_kib": [rss(&before), rss(&with_n), rss(&with_2n)], "bytes_per_extra_live_query": per_extra,
    });
    println!("JSON {line}");
    Ok(())
}

/// Opens `--connections` sockets over the source addresses and targets in turn.
async fn connect_all(args: &Args, key: &str) -> anyhow::Result<Vec<Socket>> {
    let mut sockets = Vec::new();
    for index in 0..args.connections.max(1) {
        let target = args.target[index % args.target.len()];
        sockets.push(connect(target, source_addr(index, args.source_addrs), key).await?);
    }
    Ok(sockets)
}

/// Starts live queries `ids` (query i on patient i mod D, on socket i mod sockets) and
/// waits for each one's first result.
async fn start(
    sockets: &mut [Socket],
    (query, practice): (&str, &str),
    patients: &[String],
    ids: std::ops::Range<usize>,
) -> anyhow::Result<()> {
    let count = sockets.len();
    for (c, socket) in sockets.iter_mut().enumerate() {
        let mine: Vec<usize> = ids.clone().filter(|i| i % count == c).collect();
        for &i in &mine {
            let start = json!({ "id": i.to_string(), "type": "subscribe",
                "payload": { "query": query, "variables": { "id": patients[i % patients.len()], "p": practice } } });
            socket.send(Message::Text(start.to_string().into())).await?;
        }
        for _ in &mine {
            first_result(socket).await?;
        }
    }
    Ok(())
}

async fn first_result(socket: &mut Socket) -> anyhow::Result<()> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next()).await?.context("closed")??;
        let Message::Text(text) = message else { continue };
        let value: Value = serde_json::from_str(&text)?;
        match value["type"].as_str() {
            Some("next") if value["payload"]["errors"].is_null() => return Ok(()),
            Some("ping") | Some("pong") => continue,
            _ => bail!("expected a first live result, got {value}"),
        }
    }
}

async fn read(mut socket: Socket, sent: Sent, latencies: Arc<Mutex<hdrhistogram::Histogram<u64>>>) {
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else { continue };
        let Ok(value) = serde_json::from_str::<Value>(&text) else { continue };
        let patient = &value["payload"]["data"]["patient"];
        let (Some(id), Some(balance)) = (patient["id"].as_str(), patient["balanceCents"].as_i64()) else { continue };
        let at = sent.lock().unwrap().get(&(id.to_string(), balance)).copied();
        if let Some(at) = at {
            let _ = latencies.lock().unwrap().record(at.elapsed().as_micros() as u64);
        }
    }
}

/// A counter from the first target's `/metrics`.
async fn metric(args: &Args, name: &str) -> anyhow::Result<f64> {
    let text = reqwest::get(format!("http://{}/metrics", args.target[0])).await?.text().await?;
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.trim().parse::<f64>().ok()))
        .with_context(|| format!("{name} in /metrics"))
}

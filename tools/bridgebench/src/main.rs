//! The far side of the bridge benchmark (BENCHMARKS.md, "Bridges"): consumes a JetStream
//! stream and/or a RabbitMQ topic exchange while `loadgen` writes, and reports per broker
//! what arrived — events, duplicates, gaps and reorders per practice — and the latency
//! from each event's `time` (its append) to its arrival here, which bounds the
//! append → broker-ack latency from above. Ends when `--expect` distinct events arrived on
//! every broker, or after `--idle` seconds with nothing new. Loopback brokers only.

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(name = "bridgebench", about = "Consumes the bridges' brokers and checks and times what arrives")]
struct Args {
    #[arg(long)]
    nats_url: Option<String>,
    #[arg(long, default_value = "CLINICSTREAM")]
    nats_stream: String,
    #[arg(long, default_value = "clinicstream")]
    nats_prefix: String,
    #[arg(long)]
    amqp_url: Option<String>,
    #[arg(long, default_value = "clinicstream.events")]
    amqp_exchange: String,
    /// Distinct events to wait for on each broker (0: until idle).
    #[arg(long, default_value_t = 0)]
    expect: usize,
    /// Seconds without a new message (after the first) that end the run.
    #[arg(long, default_value_t = 60)]
    idle: u64,
    /// The longest the whole run may take, in seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    #[arg(long, default_value = "")]
    label: String,
    /// Delete the stream and the exchange at the end (they live on shared brokers).
    #[arg(long)]
    cleanup: bool,
}

/// What one broker's consumer saw.
struct Tally {
    ids: HashSet<String>,
    last: HashMap<String, i64>,
    duplicates: u64,
    gaps: u64,
    reorders: u64,
    latency_us: Histogram<u64>,
    last_new: Instant,
}

impl Tally {
    fn new() -> Self {
        Self {
            ids: HashSet::new(),
            last: HashMap::new(),
            duplicates: 0,
            gaps: 0,
            reorders: 0,
            latency_us: Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds"),
            last_new: Instant::now(),
        }
    }

    fn record(&mut self, body: &[u8]) {
        let Ok(event) = serde_json::from_slice::<Value>(body) else { return };
        let now = chrono::Utc::now();
        let (Some(id), Some(practice), Some(seq), Some(time)) = (
            event["id"].as_str(),
            event["data"]["practiceId"].as_str(),
            event["data"]["seq"].as_i64(),
            event["time"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()),
        ) else {
            return;
        };
        if !self.ids.insert(id.to_string()) {
            self.duplicates += 1;
            return;
        }
        self.last_new = Instant::now();
        let latency = (now - time.with_timezone(&chrono::Utc)).num_microseconds().unwrap_or(0).max(1) as u64;
        let _ = self.latency_us.record(latency.min(600_000_000));
        // Practices start at seq 1 and the consumer starts before them: a missing 1 is a gap.
        let last = self.last.entry(practice.to_string()).or_insert(0);
        if seq == *last + 1 {
            *last = seq;
        } else if seq > *last + 1 {
            self.gaps += 1;
            *last = seq;
        } else {
            self.reorders += 1;
        }
    }

    fn report(&self, broker: &str) -> Value {
        let ms = |q: f64| self.latency_us.value_at_quantile(q) as f64 / 1000.0;
        serde_json::json!({
            "broker": broker,
            "events": self.ids.len(),
            "practices": self.last.len(),
            "duplicates": self.duplicates,
            "gaps": self.gaps,
            "reorders": self.reorders,
            "latency_ms": { "p50": ms(0.5), "p99": ms(0.99), "max": self.latency_us.max() as f64 / 1000.0 },
        })
    }
}

async fn consume_nats(args: &Args, url: &str, tally: Arc<Mutex<Tally>>) -> anyhow::Result<()> {
    use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull::OrderedConfig, stream};
    let client = async_nats::connect(url).await.context("connecting to NATS")?;
    let js = jetstream::new(client);
    // Created as the bridge creates it, so the consumer can start first.
    let config = stream::Config {
        name: args.nats_stream.clone(),
        subjects: vec![format!("{}.>", args.nats_prefix)],
        ..Default::default()
    };
    let stream = js.get_or_create_stream(config).await.context("opening the stream")?;
    // The next stream sequence to read: a consumer lost with its server (an outage run)
    // is created again from there.
    let mut next = 1u64;
    loop {
        let policy = DeliverPolicy::ByStartSequence { start_sequence: next };
        let consumer =
            match stream.create_consumer(OrderedConfig { deliver_policy: policy, ..Default::default() }).await {
                Ok(consumer) => consumer,
                Err(err) => {
                    eprintln!("nats consumer: {err}; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
        let Ok(mut messages) = consumer.messages().await else { continue };
        while let Some(message) = messages.next().await {
            let Ok(message) = message else { break };
            if let Ok(info) = message.info() {
                next = info.stream_sequence + 1;
            }
            tally.lock().unwrap().record(&message.payload);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn consume_amqp(args: &Args, url: &str, tally: Arc<Mutex<Tally>>) -> anyhow::Result<()> {
    use lapin::options::*;
    use lapin::types::FieldTable;
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
    channel
        .exchange_declare(
            args.amqp_exchange.as_str().into(),
            lapin::ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    let exclusive = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
    let queue = channel.queue_declare("".into(), exclusive, FieldTable::default()).await?;
    let name = queue.name().clone();
    channel
        .queue_bind(
            name.clone(),
            args.amqp_exchange.as_str().into(),
            "#".into(),
            Default::default(),
            FieldTable::default(),
        )
        .await?;
    let no_ack = BasicConsumeOptions { no_ack: true, ..Default::default() };
    let mut deliveries = channel.basic_consume(name, "bridgebench".into(), no_ack, FieldTable::default()).await?;
    while let Some(delivery) = deliveries.next().await {
        tally.lock().unwrap().record(&delivery?.data);
    }
    Ok(())
}

async fn cleanup(args: &Args) {
    if let Some(url) = &args.nats_url
        && let Ok(client) = async_nats::connect(url.as_str()).await
    {
        let _ = async_nats::jetstream::new(client).delete_stream(&args.nats_stream).await;
    }
    if let Some(url) = &args.amqp_url
        && let Ok(connection) = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await
        && let Ok(channel) = connection.create_channel().await
    {
        let _ = channel.exchange_delete(args.amqp_exchange.as_str().into(), Default::default()).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let mut tallies = Vec::new();
    for (broker, url) in [("nats", &args.nats_url), ("amqp", &args.amqp_url)] {
        let Some(url) = url.clone() else { continue };
        let host = url.split("://").nth(1).unwrap_or_default().rsplit('@').next().unwrap_or_default();
        if !(host.starts_with("127.") || host.starts_with("localhost")) {
            bail!("{broker}: only loopback brokers ({url:?} is not)");
        }
        let tally = Arc::new(Mutex::new(Tally::new()));
        tallies.push((broker, tally.clone()));
        let args = args.clone();
        tokio::spawn(async move {
            let result = match broker {
                "nats" => consume_nats(&args, &url, tally).await,
                _ => consume_amqp(&args, &url, tally).await,
            };
            if let Err(err) = result {
                eprintln!("{broker} consumer stopped: {err:#}");
            }
        });
    }
    if tallies.is_empty() {
        bail!("give --nats-url and/or --amqp-url");
    }
    println!("READY");
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let done = tallies.iter().all(|(_, t)| {
            let t = t.lock().unwrap();
            let idle = !t.ids.is_empty() && t.last_new.elapsed() > Duration::from_secs(args.idle);
            (args.expect > 0 && t.ids.len() >= args.expect) || idle
        });
        if done || started.elapsed() > Duration::from_secs(args.timeout) {
            break;
        }
    }
    let reports: Vec<Value> = tallies.iter().map(|(b, t)| t.lock().unwrap().report(b)).collect();
    for r in &reports {
        println!(
            "{}: {} events over {} practices, {} duplicates, {} gaps, {} reorders; latency p50 {} ms, p99 {} ms, max {} ms",
            r["broker"],
            r["events"],
            r["practices"],
            r["duplicates"],
            r["gaps"],
            r["reorders"],
            r["latency_ms"]["p50"],
            r["latency_ms"]["p99"],
            r["latency_ms"]["max"]
        );
    }
    println!("JSON {}", serde_json::json!({ "label": args.label, "brokers": reports }));
    if args.cleanup {
        cleanup(&args).await;
    }
    Ok(())
}

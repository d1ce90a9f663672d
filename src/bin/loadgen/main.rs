//! The load generator behind BENCHMARKS.md: sets up its own practice with an ADMIN key,
//! opens `--connections` websockets of `--subs-per-conn` subscriptions each over several
//! loopback source addresses, posts payments at `--rate` per second for `--duration`
//! seconds, waits for the deliveries to drain, and prints what it measured (text, then
//! one JSON line). It only ever talks to 127.0.0.0/8.
//!
//! Modules: `fixture` (the GraphQL-over-HTTP calls that build the practice), `subscriber`
//! (one socket and its subscriptions), `mutator` (the fixed-rate payments), `stats`
//! (histograms, per-subscription accounting, /proc) and `report` (the summary).

mod fixture;
mod mutator;
mod report;
mod stats;
mod subscriber;

use anyhow::{Context, bail};
use clap::Parser;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stats::{Proc, Shared};

#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "Load generator for a clinicstream on this machine (loopback only)")]
pub struct Args {
    /// The server's address, an IPv4 loopback `127.x.y.z:port`.
    #[arg(long, default_value = "127.0.0.1:8080")]
    target: SocketAddr,
    /// An ADMIN key of the server (its `--admin-key`), used to build the fixture.
    #[arg(long, env = "LOADGEN_ADMIN_KEY", hide_env_values = true)]
    admin_key: String,
    /// Websocket connections to open.
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// `events` subscriptions per connection.
    #[arg(long, default_value_t = 1)]
    subs_per_conn: usize,
    /// Payments posted per second over HTTP (open loop: sent on schedule, not after replies).
    #[arg(long, default_value_t = 10)]
    rate: u32,
    /// Seconds of posting payments.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Connections are spread over the source addresses 127.0.0.1 ..= 127.0.0.N.
    #[arg(long, default_value_t = 1)]
    source_addrs: u8,
    /// The server's process id, to read its RSS and CPU seconds from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Seconds to wait after the last payment for outstanding deliveries.
    #[arg(long, default_value_t = 10)]
    drain_timeout: u64,
    /// Connections opened at once while connecting.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Payment requests in flight at most; a tick finding them all busy is counted as
    /// not sent (the server is not keeping up with the rate).
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    /// A label copied into the JSON line (e.g. the scenario and database).
    #[arg(long, default_value = "")]
    label: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    check_loopback(args.target)?;
    if args.source_addrs == 0 || args.subs_per_conn == 0 || args.rate == 0 {
        bail!("--source-addrs, --subs-per-conn and --rate must be at least 1");
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(args))
}

/// Refuses anything but IPv4 loopback: this tool floods what it points at.
fn check_loopback(target: SocketAddr) -> anyhow::Result<()> {
    match target {
        SocketAddr::V4(v4) if v4.ip().is_loopback() => Ok(()),
        other => bail!("refusing {other}: loadgen only targets 127.0.0.0/8"),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let server = args.server_pid.map(Proc::new);
    let me = Proc::new(std::process::id());
    let http = fixture::Http::new(args.target)?;
    let fixture = fixture::build(&http, &args.admin_key).await.context("building the fixture")?;
    let before = server.as_ref().map(Proc::sample).transpose()?;

    let shared = Arc::new(Shared::new());
    let connect_started = Instant::now();
    let sockets = subscriber::open_all(&args, &fixture, shared.clone()).await?;
    let connect_secs = connect_started.elapsed().as_secs_f64();
    // `subscribe` has no acknowledgement: give the server a moment to start them all.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let subscribed = server.as_ref().map(Proc::sample).transpose()?;
    eprintln!("{} connections × {} subscriptions ready in {connect_secs:.1}s", sockets.len(), args.subs_per_conn);

    let cpu_start = (server.as_ref().map(Proc::sample).transpose()?, me.sample()?);
    let window_start = Instant::now();
    let posted = mutator::run(&args, &http, &fixture, shared.clone()).await;
    let expected = posted.ok * (sockets.len() * args.subs_per_conn) as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(args.drain_timeout);
    while shared.delivered() < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let window = window_start.elapsed();
    let cpu_end = (server.as_ref().map(Proc::sample).transpose()?, me.sample()?);
    shared.stop();
    let mut subs = Vec::new();
    for socket in sockets {
        subs.extend(socket.await?);
    }

    let summary = report::Summary::new(report::Inputs {
        args: &args,
        connect_secs,
        window,
        posted,
        subs,
        shared: &shared,
        server: [before, subscribed, cpu_start.0, cpu_end.0],
        loadgen: [cpu_start.1, cpu_end.1],
    });
    summary.print();
    Ok(())
}

/// The source address of connection `index`: 127.0.0.1 ..= 127.0.0.N in turn.
fn source_addr(index: usize, source_addrs: u8) -> SocketAddr {
    let last = (index % usize::from(source_addrs)) as u8 + 1;
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, last), 0))
}

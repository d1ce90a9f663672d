//! The load generator behind BENCHMARKS.md: sets up its own `--practices` (one by
//! default) with an ADMIN key, opens `--connections` websockets of `--subs-per-conn`
//! subscriptions each over several loopback source addresses and one or more `--target`
//! servers (connection i on practice i mod `--practices`), posts payments at `--rate` per
//! second in all for `--duration` seconds, round-robin over the practices (optionally with
//! `--churn` clients connecting and leaving meanwhile), waits for the deliveries to drain,
//! and prints what it measured (text, then one JSON line). It only ever talks to
//! 127.0.0.0/8.
//!
//! Modules: `fixture` (the GraphQL-over-HTTP calls that build the practices), `eventlog`
//! (the practice's log over HTTP), `subscriber` (one steady socket and its
//! subscriptions), `tokens` (patients' access tokens, for the patient scenario), `churn` (the clients that keep reconnecting), `frame` (the frames
//! read), `mutator` (the fixed-rate payments), `gauge` (the servers' open-subscription
//! count), `servers` (/proc), `memory` (the S1 phases), `stats` (histograms and
//! per-subscription accounting), `live` (the live-query scenario), `run` (the phases in order), `report` (the JSON
//! summary) and `report_text` (the same for people).

mod churn;
mod eventlog;
mod fixture;
mod frame;
mod gauge;
mod live;
mod memory;
mod mutator;
mod report;
mod report_text;
mod run;
mod servers;
mod stats;
mod subscriber;
mod tokens;

use anyhow::bail;
use clap::Parser;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "Load generator for a clinicstream on this machine (loopback only)")]
pub struct Args {
    /// The servers' addresses, IPv4 loopback `127.x.y.z:port`; repeat the flag or separate
    /// them by commas. Connections are spread over them in turn.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:8080")]
    target: Vec<SocketAddr>,
    /// Where the fixture is built and the payments are posted (default: the first target).
    #[arg(long)]
    mutate_target: Option<SocketAddr>,
    /// An ADMIN key of the server (its `--admin-key`), used to build the fixture.
    #[arg(long, env = "LOADGEN_ADMIN_KEY", hide_env_values = true)]
    admin_key: String,
    /// Practices to build, each with its own provider, patient and keys. Connection i
    /// subscribes to practice i mod N; payment n goes to practice n mod N.
    #[arg(long, default_value_t = 1)]
    practices: usize,
    /// Websocket connections to open.
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// `events` subscriptions per connection.
    #[arg(long, default_value_t = 1)]
    subs_per_conn: usize,
    /// Subscriptions added on every connection once the first ones are measured (S1).
    #[arg(long, default_value_t = 0)]
    extra_subs_per_conn: usize,
    /// Payments posted per second over HTTP (open loop: sent on schedule, not after
    /// replies). 0 posts none: an idle run that only measures memory.
    #[arg(long, default_value_t = 10)]
    rate: u32,
    /// Seconds of posting payments.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Connections are spread over the source addresses 127.0.0.1 ..= 127.0.0.N.
    #[arg(long, default_value_t = 1)]
    source_addrs: u8,
    /// The servers' process ids, to read their RSS, CPU seconds and open files from
    /// /proc; repeat the flag or separate them by commas.
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Seconds to wait after the last payment for outstanding deliveries.
    #[arg(long, default_value_t = 10)]
    drain_timeout: u64,
    /// Seconds to wait for the servers' gauge to show every subscription open.
    #[arg(long, default_value_t = 60)]
    subscribe_timeout: u64,
    /// Connections opened at once while connecting.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Payment requests in flight at most; a tick finding them all busy is counted as
    /// not sent (the server is not keeping up with the rate).
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    /// Clients that keep connecting, subscribing after their last cursor, and leaving,
    /// next to the steady connections, for the whole payment phase (S5).
    #[arg(long, default_value_t = 0)]
    churn: usize,
    /// How long a churning client stays connected, `MIN,MAX` milliseconds (uniform).
    #[arg(long, default_value = "1000,10000", value_parser = parse_range)]
    churn_hold_ms: (u64, u64),
    /// Seconds between readings of the servers' RSS and open files for the series.
    #[arg(long, default_value_t = 10)]
    sample_every_secs: u64,
    /// Live queries to hold instead of subscriptions (the live-query scenario, `live`):
    /// this many, then as many again to measure their memory.
    #[arg(long, default_value_t = 0)]
    live_queries: usize,
    /// Distinct live queries among them (one per patient).
    #[arg(long, default_value_t = 20)]
    live_distinct: usize,
    /// Live queries that also read the whole practice, so every event re-executes them
    /// (what invalidating by practice alone would cost).
    #[arg(long)]
    live_by_practice: bool,
    /// The patient scenario: an RSA private key (PEM) whose public half the servers trust
    /// (their `JWT_JWKS_URL`). Every socket then signs in with a PATIENT token of a patient
    /// of its own (its practice gets `--connections / --practices` patients) instead of the
    /// SUBSCRIBER key, and payment n goes to the next patient of its practice in turn, so
    /// each payment is owed to one socket.
    #[arg(long)]
    patient_token_key: Option<PathBuf>,
    /// The `kid` the servers' key set names that key by.
    #[arg(long, default_value = "test-rsa")]
    token_kid: String,
    /// The tokens' `iss`.
    #[arg(long, default_value = "loadgen")]
    token_issuer: String,
    /// The tokens' `aud`: the servers' `JWT_AUDIENCE`.
    #[arg(long, default_value = "clinicstream")]
    token_audience: String,
    /// Where the tokens' claims object sits: the servers' `JWT_CLAIMS_NAMESPACE`.
    #[arg(long, default_value = "https://clinicstream.dev/claims")]
    claims_namespace: String,
    /// A label copied into the JSON line (e.g. the scenario and database).
    #[arg(long, default_value = "")]
    label: String,
}

impl Args {
    fn mutate_target(&self) -> SocketAddr {
        self.mutate_target.unwrap_or(self.target[0])
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for target in args.target.iter().chain(&args.mutate_target) {
        check_loopback(*target)?;
    }
    if args.source_addrs == 0 || args.subs_per_conn == 0 || args.sample_every_secs == 0 || args.practices == 0 {
        bail!("--source-addrs, --subs-per-conn, --sample-every-secs and --practices must be at least 1");
    }
    if args.practices > 1 && args.churn > 0 {
        // Churning clients resume on one practice's log and are judged against it.
        bail!("--churn works on a single practice only: drop --churn or use --practices 1");
    }
    if args.patient_token_key.is_some() && (args.churn > 0 || args.live_queries > 0) {
        // Churning clients and live queries sign in with the practice's SUBSCRIBER key.
        bail!("--patient-token-key runs steady sockets only: drop --churn and --live-queries");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if args.live_queries > 0 {
        return runtime.block_on(live::run(args));
    }
    runtime.block_on(run::run(args))
}

/// Refuses anything but IPv4 loopback: this tool floods what it points at.
fn check_loopback(target: SocketAddr) -> anyhow::Result<()> {
    match target {
        SocketAddr::V4(v4) if v4.ip().is_loopback() => Ok(()),
        other => bail!("refusing {other}: loadgen only targets 127.0.0.0/8"),
    }
}

fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let (min, max) = text.split_once(',').ok_or("expected MIN,MAX")?;
    let (min, max) = (min.trim().parse::<u64>(), max.trim().parse::<u64>());
    match (min, max) {
        (Ok(min), Ok(max)) if min <= max => Ok((min, max)),
        _ => Err(format!("{text:?} is not MIN,MAX with MIN ≤ MAX")),
    }
}

/// The source address of connection `index`: 127.0.0.1 ..= 127.0.0.N in turn.
fn source_addr(index: usize, source_addrs: u8) -> SocketAddr {
    let last = (index % usize::from(source_addrs)) as u8 + 1;
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, last), 0))
}

//! The command line and its settings: every flag has an environment fallback, and the
//! resulting `Config` is a value passed down (never a global) so tests can build their own.

use clap::{Args, Parser, Subcommand};
use std::time::Duration;

/// The default database: a SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://clinicstream.sqlite?mode=rwc";

/// The default `REMINDER_LEAD` (the flag's default, `30m`).
pub const DEFAULT_REMINDER_LEAD: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Parser)]
#[command(name = "clinicstream", version, about = "Real-time GraphQL event API for dental and veterinary practices")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default when no subcommand is given).
    Serve(Box<Config>),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Print the GraphQL SDL (identical to the checked-in schema.graphql).
    Schema,
    /// Print the AsyncAPI 3.0 document of the event API.
    Asyncapi,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Fill one demo practice with providers, patients and a day of appointments.
    SeedDemo(DbArgs),
    /// Manage the trusted documents `PERSISTED_QUERIES_ONLY` allows.
    PersistedQueries {
        #[command(subcommand)]
        command: PersistedQueriesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PersistedQueriesCommand {
    /// Register documents ahead of time: `.graphql` files (one operation document each) or
    /// Apollo persisted-query manifests (`.json`); prints each document's SHA-256.
    Register {
        /// The files to register.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print it (it is shown only once).
    Create {
        /// ADMIN, BACKOFFICE or SUBSCRIBER.
        #[arg(long, default_value = "ADMIN")]
        role: String,
        /// The practice the key is scoped to (required unless the role is ADMIN).
        #[arg(long)]
        practice_id: Option<String>,
        /// A name to recognise the key by.
        #[arg(long, default_value = "cli")]
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database URL: `postgres://…` or `sqlite://file?mode=rwc`. Default: a local SQLite file.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Size of the database connection pool (SQLite always uses one writer connection).
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,
    /// How long a query waits for a connection of the pool before it fails, like `30s`,
    /// `2m` or `1m30s`.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub db_acquire_timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen_addr: String,
    /// A bootstrap admin key, accepted in addition to keys stored in the database.
    #[arg(long, env = "ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// `pretty` for people, `json` for machines.
    #[arg(long, env = "LOG_FORMAT", default_value = "pretty")]
    pub log_format: String,
    /// Largest accepted HTTP request body, in bytes (larger → 413).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Deepest accepted query nesting.
    #[arg(long, env = "MAX_QUERY_DEPTH", default_value_t = 16)]
    pub max_query_depth: usize,
    /// Highest accepted query complexity (one point per field, lists multiply).
    #[arg(long, env = "MAX_QUERY_COMPLEXITY", default_value_t = 2000)]
    pub max_query_complexity: usize,
    /// Most selections a document may expand to: fields, fragment spreads, inline
    /// fragments and directives, with every fragment spread inlined (so a fragment spread
    /// twice counts twice) — checked before validation, on every door.
    #[arg(long, env = "MAX_QUERY_SELECTIONS", default_value_t = 2000)]
    pub max_query_selections: usize,
    /// Most lexical tokens a document may hold, counted before it is parsed.
    #[arg(long, env = "MAX_QUERY_TOKENS", default_value_t = 15_000)]
    pub max_query_tokens: usize,
    /// Most aliased fields a document may expand to, every fragment spread inlined.
    #[arg(long, env = "MAX_QUERY_ALIASES", default_value_t = 30)]
    pub max_query_aliases: usize,
    /// How long a websocket may wait before sending `connection_init`, in milliseconds.
    #[arg(long, env = "WS_INIT_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_init_timeout_ms: u64,
    /// Keep-alive interval on websockets, in seconds.
    #[arg(long, env = "WS_KEEPALIVE_SECS", default_value_t = 15)]
    pub ws_keepalive_secs: u64,
    /// Largest accepted websocket message, in bytes.
    #[arg(long, env = "WS_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub ws_max_message_bytes: usize,
    /// Redis URL (`redis://host:port`): fan events out across replicas. Without it the bus
    /// is in-process (one replica).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Redis Cluster seed nodes, `host:port,host:port,…`: the bus runs on the cluster
    /// (sharded pub/sub, SPUBLISH/SSUBSCRIBE) instead of one Redis. Excludes `REDIS_URL`.
    #[arg(long, env = "REDIS_CLUSTER_NODES", value_parser = parse_cluster_nodes)]
    pub redis_cluster_nodes: Option<ClusterNodes>,
    /// Prefix of the Redis channel names, so deployments (and tests) can share one Redis.
    #[arg(long, env = "REDIS_PREFIX", default_value = "clinicstream")]
    pub redis_prefix: String,
    /// How often the outbox relay looks for events whose publish did not happen, in ms.
    #[arg(long, env = "RELAY_INTERVAL_MS", default_value_t = 250)]
    pub relay_interval_ms: u64,
    /// How old an unpublished event must be before the relay publishes it, in ms.
    #[arg(long, env = "RELAY_GRACE_MS", default_value_t = 1000)]
    pub relay_grace_ms: u64,
    /// Operations (subscriptions, queries) one websocket may run at once.
    #[arg(long, env = "WS_MAX_OPERATIONS", default_value_t = 100)]
    pub ws_max_operations: usize,
    /// Bytes of subscription results queued for one websocket or SSE stream; past it its
    /// subscriptions catch up from the log as the client reads, instead of queueing more.
    #[arg(long, env = "OUTBOUND_MAX_BYTES", default_value_t = 256 * 1024)]
    pub outbound_max_bytes: usize,
    /// Seconds a write to a client may make no progress before the connection is closed
    /// (websockets: 1013 with the cursors to resume from).
    #[arg(long, env = "SLOW_CONSUMER_TIMEOUT_SECS", default_value_t = 30)]
    pub slow_consumer_timeout_secs: u64,
    /// Milliseconds between two results of a live query when it asks no `throttle`.
    #[arg(long, env = "LIVE_THROTTLE_MS", default_value_t = 50)]
    pub live_throttle_ms: u64,
    /// The longest `@live(throttle:)` honoured, in milliseconds; longer ones are clamped.
    #[arg(long, env = "LIVE_THROTTLE_MAX_MS", default_value_t = 10_000)]
    pub live_throttle_max_ms: u64,
    /// Open websocket connections one API key may hold on one replica.
    #[arg(long, env = "MAX_CONNECTIONS_PER_KEY", default_value_t = 1000)]
    pub max_connections_per_key: usize,
    /// Requests (HTTP GraphQL requests and websocket operations) per second per API key.
    #[arg(long, env = "RATE_LIMIT_PER_SEC", default_value_t = 100)]
    pub rate_limit_per_sec: u32,
    /// Requests a key may burst above its rate.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 200)]
    pub rate_limit_burst: u32,
    /// How long a stopping server (SIGTERM, Ctrl-C) may take to drain, in seconds.
    #[arg(long, env = "SHUTDOWN_DEADLINE_SECS", default_value_t = 10)]
    pub shutdown_deadline_secs: u64,
    /// Events buffered per practice for live subscribers; a subscriber further behind
    /// catches up from the log.
    #[arg(long, env = "BUS_CAPACITY", default_value_t = 1024)]
    pub bus_capacity: usize,
    /// How long before an appointment starts its APPOINTMENT_STARTING_SOON is sent, like
    /// `30m`, `90s`, `1h` or `1h30m`.
    #[arg(long, env = "REMINDER_LEAD", default_value = "30m", value_parser = parse_lead)]
    pub reminder_lead: Duration,
    #[command(flatten)]
    pub webhooks: Box<crate::webhooks::WebhookArgs>,
    #[command(flatten)]
    pub clients: Box<ClientArgs>,
    #[command(flatten)]
    pub retention: Box<RetentionArgs>,
    #[command(flatten)]
    pub bridges: Box<crate::bridges::BridgeArgs>,
    #[command(flatten)]
    pub metering: Box<crate::usage::MeteringArgs>,
}

// ---- Redis Cluster ----

/// The seed nodes of `REDIS_CLUSTER_NODES`, each `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNodes(pub Vec<String>);

/// At most this many seed nodes (a cluster is found from any one of them).
pub const MAX_CLUSTER_NODES: usize = 64;

/// Parses `host:port,host:port,…`: hosts of letters, digits, `.`, `-`, `_` or an IPv6
/// literal in brackets, ports 1–65535, at most `MAX_CLUSTER_NODES` of them.
pub fn parse_cluster_nodes(text: &str) -> Result<ClusterNodes, String> {
    if text.len() > 4096 {
        return Err("REDIS_CLUSTER_NODES is longer than 4096 bytes".into());
    }
    let mut nodes = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("{text:?}: an empty node; expected host:port,host:port,…"));
        }
        let bad = || format!("{part:?} is not host:port (like 10.0.0.1:7000 or redis-a:6379)");
        let (host, port) = part.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let plain = !host.is_empty()
            && host.len() <= 253
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        let ipv6 = host.starts_with('[')
            && host.ends_with(']')
            && host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().is_ok();
        if port == 0 || !(plain || ipv6) {
            return Err(bad());
        }
        nodes.push(format!("{host}:{port}"));
    }
    if nodes.len() > MAX_CLUSTER_NODES {
        return Err(format!("{} nodes in REDIS_CLUSTER_NODES; at most {MAX_CLUSTER_NODES}", nodes.len()));
    }
    nodes.dedup();
    Ok(ClusterNodes(nodes))
}

// ---- How long the log and its history are kept ----

/// What is pruned, and after how long: `90d`, `12h`, `30m`, `45s` or sums like `1d12h`.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Events older than this are pruned; a cursor before the oldest kept event answers
    /// CURSOR_EXPIRED.
    #[arg(long, env = "EVENT_RETENTION", default_value = "90d", value_parser = parse_retention)]
    pub event_retention: Duration,
    /// Finished webhook deliveries (and their attempts) older than this are pruned.
    #[arg(long, env = "WEBHOOK_RETENTION", default_value = "30d", value_parser = parse_retention)]
    pub webhook_retention: Duration,
    /// Idempotency keys older than this are forgotten (a retry after it runs anew).
    #[arg(long, env = "IDEMPOTENCY_RETENTION", default_value = "24h", value_parser = parse_retention)]
    pub idempotency_retention: Duration,
    /// Audit trail rows older than this are pruned; the default, six years, is the usual
    /// retention of health records.
    #[arg(long, env = "AUDIT_RETENTION", default_value = "2196d", value_parser = parse_retention)]
    pub audit_retention: Duration,
}

/// Parses a retention: one or more `<number><unit>` parts, units `d`, `h`, `m` and `s`.
/// Zero is refused (it would prune what was just written); at most ten years.
pub fn parse_retention(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a retention like 90d, 24h or 30m");
    let secs = sum_of_parts(text, &[('d', 86_400), ('h', 3600), ('m', 60), ('s', 1)]).ok_or_else(bad)?;
    if secs == 0 {
        return Err(bad());
    }
    if secs > 10 * 366 * 86_400 {
        return Err(format!("{text:?} is longer than ten years"));
    }
    Ok(Duration::from_secs(secs))
}

/// The seconds in `1h30m`-like text, by the given units; None when it is not such text.
fn sum_of_parts(text: &str, units: &[(char, u64)]) -> Option<u64> {
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = units.iter().find(|(u, _)| *u == c)?.1;
        let n: u64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
    }
    digits.is_empty().then_some(total)
}

// ---- GraphQL clients as they come: CORS, persisted queries, batching ----

/// What browsers on other origins, persisted-query clients and batching clients may do.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Origins (`https://app.example`) whose pages may call `/graphql` and
    /// `/graphql/stream` and open websockets, comma-separated; `*` allows any. Empty (the
    /// default): same origin only.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',', default_value = "")]
    pub cors_allowed_origins: Vec<String>,
    /// Operations one batched POST (a JSON array) may carry.
    #[arg(long, env = "MAX_BATCH", default_value_t = 10)]
    pub max_batch: usize,
    /// Refuse every operation whose document was not registered ahead of time
    /// (`clinicstream persisted-queries register`): trusted documents only.
    #[arg(long, env = "PERSISTED_QUERIES_ONLY", default_value_t = false, action = clap::ArgAction::Set)]
    pub persisted_queries_only: bool,
    /// Automatic persisted queries kept in the database (shared by replicas); past it the
    /// least recently used are pruned. Registered documents are never pruned.
    #[arg(long, env = "PERSISTED_QUERIES_MAX", default_value_t = 10_000)]
    pub persisted_queries_max: u64,
}

impl Config {
    /// Settings as the command line would give them with no flags, over `database_url`:
    /// what tests and embedders start from.
    pub fn with_database(database_url: &str) -> Self {
        let mut config = Self::with_env();
        config.db.database_url = database_url.to_string();
        config
    }

    /// Settings from the environment alone: what `clinicstream` with no subcommand runs.
    pub fn with_env() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        Only::parse_from(["clinicstream"]).config
    }
}

/// Parses a lead time: one or more `<number><unit>` parts, units `h`, `m` and `s`
/// (`30m`, `90s`, `1h30m`). Zero is refused: a reminder due when the appointment starts
/// would never be sent (reminders are not sent once an appointment has started).
pub fn parse_lead(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a lead time like 30m, 90s or 1h");
    let total = sum_of_parts(text, &[('h', 3600), ('m', 60), ('s', 1)]).ok_or_else(bad)?;
    if total == 0 {
        return Err(bad());
    }
    if total > 7 * 24 * 3600 {
        return Err(format!("{text:?} is longer than a week"));
    }
    Ok(Duration::from_secs(total))
}

/// Parses a timeout: one or more `<number><unit>` parts, units `h`, `m` and `s` (`30s`,
/// `2m`, `1m30s`). Zero is refused (nothing could ever be waited for); at most an hour.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a timeout like 30s, 2m or 1m30s");
    let total = sum_of_parts(text, &[('h', 3600), ('m', 60), ('s', 1)]).ok_or_else(bad)?;
    if total == 0 {
        return Err(bad());
    }
    if total > 3600 {
        return Err(format!("{text:?} is longer than an hour"));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::{ClusterNodes, MAX_CLUSTER_NODES, parse_cluster_nodes, parse_lead, parse_retention, parse_timeout};
    use std::time::Duration;

    #[test]
    fn lead_times_read_like_people_write_them() {
        assert_eq!(parse_lead("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_lead("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_lead("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_lead("45m"), Ok(Duration::from_secs(2700)));
        assert_eq!(parse_lead("1h30m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "30", "m", "0m", "-5m", "30 minutes", "1.5h", "8d", "200h"] {
            assert!(parse_lead(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn timeouts_read_like_people_write_them() {
        assert_eq!(parse_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_timeout("1m30s"), Ok(Duration::from_secs(90)));
        for bad in ["", "30", "s", "0s", "-5s", "30 seconds", "1.5s", "2h", "99999999999999999999s"] {
            assert!(parse_timeout(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn retentions_read_like_people_write_them() {
        assert_eq!(parse_retention("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_retention("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_retention("1d12h"), Ok(Duration::from_secs(129_600)));
        assert_eq!(parse_retention("45s"), Ok(Duration::from_secs(45)));
        for bad in ["", "90", "d", "0d", "-1d", "90 days", "1.5d", "4000d", "99999999999999999999d"] {
            assert!(parse_retention(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn cluster_nodes_are_host_port_lists() {
        assert_eq!(
            parse_cluster_nodes("10.0.0.1:7000, redis-b:7001,[::1]:7002"),
            Ok(ClusterNodes(vec!["10.0.0.1:7000".into(), "redis-b:7001".into(), "[::1]:7002".into()]))
        );
        let hostile = format!("a:1,{}", "x".repeat(5000));
        let many = (0..=MAX_CLUSTER_NODES).map(|i| format!("h{i}:7000")).collect::<Vec<_>>().join(",");
        for bad in [
            "",
            ",",
            "a:1,,b:2",
            "redis-a",
            "redis-a:",
            ":7000",
            "a:0",
            "a:70000",
            "a:-1",
            "redis://a:7000",
            "a b:7000",
            "a:7000/0",
            "[zz]:7000",
            "a;rm -rf:7000",
            hostile.as_str(),
            many.as_str(),
        ] {
            assert!(parse_cluster_nodes(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

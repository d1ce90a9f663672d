//! The command line and its settings: every flag has an environment fallback, and the
//! resulting `Config` is a value passed down (never a global) so tests can build their own.
//!
//! Each feature owns its settings, parsed and validated in its own module: the database
//! (`db::DbArgs`), the bus and its relay (`events::BusArgs`: Redis, a Redis Cluster),
//! retention, webhooks, bridges, metering (`usage`), clients (`persisted`) and the reminder
//! lead (`domain`); every duration setting reads the one grammar of `duration`. `Config`
//! composes them, flattening the features' `Args` structs. The websocket, rate-limit and
//! query-bound settings are still fields of `Config` itself.

use clap::{Args, Parser};
use std::time::Duration;

pub use crate::db::{DEFAULT_DATABASE_URL, DbArgs, parse_timeout};
pub use crate::domain::{DEFAULT_REMINDER_LEAD, parse_lead};
pub use crate::events::{BusArgs, ClusterNodes, MAX_CLUSTER_NODES, parse_cluster_nodes};
pub use crate::persisted::ClientArgs;
pub use crate::retention::{RetentionArgs, parse_retention};

#[derive(Debug, Parser)]
#[command(name = "clinicstream", version, about = "Real-time GraphQL event API for dental and veterinary practices")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Subcommand>,
}

#[derive(Debug, clap::Subcommand)]
/// The subcommand the command line names.
pub enum Subcommand {
    /// Run the server (the default when no subcommand is given).
    Serve(Box<Config>),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Print the GraphQL SDL (identical to the checked-in schema.graphql).
    Schema {
        /// Print the Apollo Federation v2 subgraph SDL instead (schema.federation.graphql).
        #[arg(long)]
        federation: bool,
    },
    /// Print the AsyncAPI 3.0 document of the event API.
    Asyncapi,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Fill one demo practice with providers, patients and a day of appointments.
    SeedDemo(DbArgs),
    /// Write the practices' logs as Parquet files (Hive-partitioned by practice and UTC
    /// day) under a directory or an S3 URL, after what earlier runs wrote.
    #[cfg(feature = "lake")]
    Export(Box<crate::lake::ExportArgs>),
    /// Manage the trusted documents `PERSISTED_QUERIES_ONLY` allows.
    PersistedQueries {
        #[command(subcommand)]
        command: PersistedQueriesCommand,
    },
}

#[derive(Debug, clap::Subcommand)]
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

#[derive(Debug, clap::Subcommand)]
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
pub struct Config {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen_addr: String,
    /// Address the gRPC event stream (`clinicstream.v1.Events`, health, reflection)
    /// listens on; port 0 picks a free port. Unset: no gRPC listener.
    #[arg(long, env = "GRPC_LISTEN_ADDR")]
    pub grpc_listen_addr: Option<String>,
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
    #[command(flatten)]
    pub bus: crate::events::BusArgs,
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
    pub commands: Box<crate::inbox::CommandArgs>,
    #[command(flatten)]
    pub metering: Box<crate::usage::MeteringArgs>,
    #[command(flatten)]
    pub identity: Box<crate::identity::IdentityArgs>,
    #[command(flatten)]
    pub federation: FederationArgs,
    #[command(flatten)]
    pub tracing: Box<crate::telemetry::TracingArgs>,
    #[cfg(feature = "lake")]
    #[command(flatten)]
    pub lake: Box<crate::lake::LakeArgs>,
}

/// Serving as a subgraph of a federated supergraph. The schema this switches is
/// `graphql`'s, which sits above `config`, so its setting is declared here.
#[derive(Debug, Clone, Args)]
pub struct FederationArgs {
    /// Serve the schema as an Apollo Federation v2 subgraph: `_service { sdl }` (the
    /// federated SDL of `clinicstream schema --federation`, subscriptions included) and
    /// `_entities` for Practice, Provider, Patient, Appointment, Payment and Charge
    /// (`@key(fields: "id")`), scoped by the caller like the plain queries.
    #[arg(long = "federation", env = "FEDERATION", default_value_t = false, action = clap::ArgAction::Set)]
    pub enabled: bool,
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

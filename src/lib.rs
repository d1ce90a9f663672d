//! clinicstream: a real-time GraphQL event API for dental and veterinary practices.
//!
//! A tour of the modules, in the order a request meets them. The layers import downwards:
//! `app` builds the [`state`] (around the app-wide [`services`]) that `http` serves with;
//! `http` hands operations to `graphql`, subscriptions through [`hub`]; `graphql` calls `domain`, `auth` and `webhooks`, which read and append
//! through `events` and `db`; and all of them speak [`vocab`], which imports nothing from
//! the crate. Nothing under `domain`, `events`, `auth`, `webhooks` or `db` imports from
//! `graphql`, `http`, `services`, `state` or `app`. (`clock` and `error` are used at every level.)
//! `tests/api/layers.rs` holds the whole order, bottom first, and fails on an import that
//! runs upwards; the few that still do are listed there by name, each with its reason.
//!
//! - [`config`]: the command line and environment, as a `Config` value that composes
//!   the settings each feature owns and validates (`db::DbArgs`, `events::BusArgs`, `retention`, `webhooks`,
//!   `bridges`, `usage`, `persisted::ClientArgs`, …); [`config_reference`] renders them
//!   as the docs book's configuration table.
//! - [`app`]: `App::build` (connect, migrate, bind) and `run` (serve until stopped).
//! - [`state`]: `AppState`, what every handler gets; built by `app`, served by `http`.
//! - [`services`]: `AppServices`, the app-wide container — the domain's `Services` (database,
//!   bus, clock, writers, limits, …) with the usage meter and the audit recorder — built by
//!   one constructor that `serve` and every subcommand use. The layers below are handed
//!   the parts they use, never the container.
//! - `http`: the router; GraphQL over HTTP (`http::graphql`, with batched POSTs),
//!   websockets (graphql-transport-ws and the legacy graphql-ws), GraphQL over SSE
//!   (`http::sse`, resumable by `Last-Event-ID`) and Apollo's multipart subscriptions
//!   (`http::multipart`), both held open by `http::streamed`; long polling of a practice's
//!   log (`http::polling`, waiting in `domain::event_poll`) and the WebSub hub's door
//!   (`http::websub`); the origin check and CORS
//!   headers (`http::cors`); the embedded browser assets (GraphiQL, the dashboard and the
//!   operator console at `/console`, built from `web/`), health and `/metrics`.
//! - [`grpc`]: the gRPC door on its own listener (`GRPC_LISTEN_ADDR`):
//!   `clinicstream.v1.Events/Subscribe` streams a practice's events through its hub, held
//!   like an SSE stream (`http::streamed`); `grpc.health.v1` and server reflection. The
//!   code generated from `proto/` is checked in under `grpc/generated`.
//! - [`hub`]: the delivery plane between the transports and `graphql`: per practice, one
//!   task holds its subscriptions as small registrations, runs each distinct operation
//!   once per event and queues the shared bytes on each connection's bounded outbound
//!   queue; a subscriber replaying, or past its byte bound, catches up from the log. It
//!   meters and audits what it delivers (`hub::metered`) and holds its subscribers back
//!   over a practice's `maxDeliveriesPerDay` (`hub::budget`).
//! - [`operation`]: which operation of a document a request runs (below `live` and
//!   `graphql`, which both ask).
//! - [`live`]: live queries (`query @live`): what a document asks of the directive, which
//!   resources a result read (so an event re-executes only the live queries it can change)
//!   and jsondiffpatch deltas; the practice's hub serves them (`hub::live_queries`), once
//!   per distinct query. The directive's place in the schema, and reading it off a request,
//!   are `graphql::live`'s.
//! - [`persisted`]: persisted queries — Apollo's automatic persisted queries and the
//!   trusted documents of `PERSISTED_QUERIES_ONLY` — stored by SHA-256 in the database,
//!   shared by replicas, bounded; every transport applies them before an operation runs.
//! - `metrics`: the app's Prometheus instruments and the registry `/metrics` serves.
//! - [`graphql`]: the schema, one file per resource, and the error codes. Every GraphQL type
//!   lives here: the plain records of [`vocab`] (and `usage`, `audit`) get their face in
//!   `graphql::types` (resolvers that borrow them; enums that convert), the inputs are
//!   converted into the domain's plain ones, and the `Event` interface is over the log. Its
//!   `metering` extension meters and audits queries, mutations and the subscriptions that
//!   run on their own (not through the hub). What a document may cost is checked before
//!   anything reads it: its tokens before parsing, then what it expands to with every
//!   fragment spread inlined (`graphql::bounds`, on every door and in the schema); NUL is
//!   refused in every string (`no_nul`); subscription root fields written in fragments
//!   are brought to the root so every door streams and resumes them (`root_fields`).
//!   With `FEDERATION=true` the schema is an Apollo Federation v2 subgraph
//!   (`graphql::federation`): `_service`, and `_entities` for the keyed resources, loaded
//!   per request in batches through `domain::lookup`; the plain schema stays the contract.
//! - [`auth`]: API keys, and the principal a key or a person grants: who acts (a key or a
//!   person) and what it may touch (everything, a practice in a role, one patient).
//! - [`identity`]: people's access tokens (JWTs from an OpenID Provider) verified against
//!   the issuer's keys (`OIDC_ISSUER` or `JWT_JWKS_URL`), the claims object that grants a
//!   practice, a role or one patient, and back-channel logout.
//! - [`limits`]: what must hold across replicas, through Redis when there is one: the
//!   per-key rate limit (a token bucket script), the per-key connection cap and the
//!   practices' connection and subscription quotas (leased slots a crashed replica's
//!   lapse from), mutations per minute, and the control channel that carries revocations
//!   and quota changes to every replica; in memory without Redis. Every key is hash-tagged
//!   so each script touches one slot.
//! - [`domain`]: the business rules, one file per aggregate; every mutation runs in a
//!   `MutationTx` that appends its event to the log in the same transaction. Mutations
//!   that append run in their practice's lane (`domain::writer`, group commit:
//!   one transaction and one commit per batch of one or many practices, each practice's
//!   counter row locked, a savepoint per mutation; `domain::batch` runs one batch); `domain::reminders` holds the rules of APPOINTMENT_STARTING_SOON and
//!   `domain::scheduler` the task every replica runs to send them; `domain::lookup` reads
//!   many resources of one kind by id, as the caller may see them (federation's references).
//! - [`retention`]: keeps the log bounded (`EVENT_RETENTION`, `WEBHOOK_RETENTION`,
//!   `IDEMPOTENCY_RETENTION`), pruning oldest first in short statements.
//! - [`usage`]: usage metering — operations, deliveries by transport and event type,
//!   peak connections and subscriptions, per practice, API key and hour; counted in
//!   memory and added to the database by the [`flusher`] every `USAGE_FLUSH_MS`.
//! - [`audit`]: the access audit trail — who read or changed which patients' data, by
//!   which door; subscriptions' starts, stops and per-patient delivery counts; appended
//!   in batches by the same flusher (sooner once 300 rows are queued), pruned past
//!   `AUDIT_RETENTION`.
//! - [`webhooks`]: endpoints that receive the log's events as signed POSTs (Standard
//!   Webhooks): a dispatcher queues deliveries, a worker attempts them with retries;
//!   `webhooks::websub` is the WebSub hub, whose verified subscriptions are endpoints of
//!   protocol `WEBSUB` delivered by the same machinery.
//! - [`bridges`]: the log into brokers as CloudEvents 1.0 — NATS JetStream, RabbitMQ,
//!   MQTT and Kafka (`BRIDGE_*`): per (bridge, practice) a durable cursor that advances only over
//!   broker-acknowledged messages and a lease so one replica publishes it, like the
//!   webhook worker's; `data` is the webhook body's `data`. Kafka (`BRIDGE_KAFKA_*`,
//!   cargo feature `kafka`) is exactly once where the broker commits transactions: a
//!   transactional producer per practice, the topic read back as the cursor on a takeover;
//!   at least once, one shared idempotent producer, where it cannot (tansu 0.6.0).
//! - [`inbox`]: commands in — mutations arriving on NATS JetStream, RabbitMQ or Kafka as
//!   CloudEvents (`COMMANDS_*`), run through the HTTP door's path (`http::graphql::command`,
//!   handed down as `inbox::Execute`), applied exactly once (each mutation's key derived from
//!   the command's id, `domain::command`), answered with a CloudEvent reply or sent to a dead
//!   letter before the message is acked.
//! - [`lake`] (cargo feature `lake`, on by default): the logs as Parquet files on a
//!   directory or S3, Hive-partitioned by practice and UTC day — `clinicstream export`
//!   (incremental by cursor or state file) and the `LAKE_URL` sink, which holds the
//!   bridges' leases and cursors and shows in the `bridges` status.
//! - [`events`]: the event log, the bus that carries committed events to subscribers
//!   (in-process, one Redis, or a Redis Cluster's sharded pub/sub — `events::cluster`:
//!   one pub/sub connection per needed shard, resubscribed and resynced from the log on
//!   failover; the publisher pipelines what is queued, per practice in seq order), the
//!   `Feed` that gives each subscriber every event once, in order, across reconnects.
//! - [`telemetry`]: what the server says about itself — log lines (`RUST_LOG`,
//!   `LOG_FORMAT`) and OpenTelemetry traces over OTLP/HTTP (the standard `OTEL_*`
//!   settings; off without `OTEL_EXPORTER_OTLP_ENDPOINT`): the request, operation and
//!   commit-batch spans, and one span per delivered event per door, linked to the trace of
//!   the mutation whose W3C context (`telemetry::TraceContext`) is stored with each event.
//! - [`clock`]: "now", injectable; `ManualClock` lets tests move time.
//! - [`asyncapi`]: the AsyncAPI document, generated from the event catalog, with the
//!   commands that come in from a bus, their replies and dead letters.
//! - [`db`]: its settings, the connection and the sea-orm entities; `migrations/` holds
//!   the schema.
//! - `duration`: the one grammar of every duration setting (`90d`, `1h30m`, `250ms`).
//! - [`vocab`]: the words all of them share, at the bottom: event types, roles,
//!   statuses, payment methods and the resource records the domain returns, the log
//!   snapshots and the schema serves (as plain Rust: below `graphql`, async-graphql is only
//!   the language, its parser and values).

pub mod app;
pub mod asyncapi;
pub mod audit;
pub mod auth;
pub mod bridges;
pub mod clock;
pub mod commands;
pub mod config;
pub mod config_reference;
pub mod db;
pub mod domain;
pub(crate) mod duration;
pub mod error;
pub mod events;
pub mod flusher;
pub mod graphql;
pub mod grpc;
pub(crate) mod http;
pub mod hub;
pub mod identity;
pub mod inbox;
#[cfg(feature = "lake")]
pub mod lake;
pub mod limits;
pub mod live;
pub(crate) mod metrics;
pub mod operation;
pub mod persisted;
pub mod retention;
pub mod services;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod usage;
pub mod vocab;
pub mod webhooks;

pub use app::App;
pub use config::Config;
pub use state::AppState;

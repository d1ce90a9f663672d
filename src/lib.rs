//! clinicstream: a real-time GraphQL event API for dental and veterinary practices.
//!
//! A tour of the modules, in the order a request meets them:
//!
//! - [`config`]: the command line and environment, as a `Config` value.
//! - [`app`]: `App::build` (connect, migrate, bind) and `run` (serve until stopped).
//! - `http`: the router; GraphQL over HTTP, websockets (graphql-transport-ws and the
//!   legacy graphql-ws), GraphQL over SSE (`http::sse`, resumable by `Last-Event-ID`),
//!   the embedded browser assets (GraphiQL, the dashboard built from `web/`), health.
//! - [`auth`]: API keys and the principal they grant.
//! - [`graphql`]: the schema, one file per resource, and the error codes.
//! - [`domain`]: the business rules, one file per aggregate; every mutation runs in a
//!   `MutationTx` that appends its event to the log in the same transaction;
//!   `domain::reminders` holds the rules of APPOINTMENT_STARTING_SOON.
//! - [`events`]: the event log, the bus that carries committed events to subscribers, the
//!   `Feed` that gives each subscriber every event once, in order, across reconnects, and
//!   the reminder scheduler every replica runs.
//! - [`clock`]: "now", injectable; `ManualClock` lets tests move time.
//! - [`asyncapi`]: the AsyncAPI document, generated from the event catalog.
//! - [`webhooks`]: endpoints that receive the log's events as signed POSTs (Standard
//!   Webhooks): a dispatcher queues deliveries, a worker attempts them with retries.
//! - [`db`]: the connection and the sea-orm entities; `migrations/` holds the schema.

pub mod app;
pub mod asyncapi;
pub mod auth;
pub mod clock;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub(crate) mod http;
pub(crate) mod metrics;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod vocab;
pub mod webhooks;

pub use app::App;
pub use config::Config;
pub use state::AppState;

//! The integration suite: one binary, each test booting the real app on a random port over
//! its own database (a fresh SQLite file, or a fresh Postgres database).

mod hardening;
mod helpers;
mod multipart_client;
mod redis_cluster;
mod redis_server;
mod sse_client;
mod tools;
mod ws_client;

mod auth;
mod bad_input;
mod batching;
mod bridges;
mod browser;
mod chaos;
mod cli;
mod clients_npm;
mod cluster;
mod concurrency;
mod cors;
mod feed;
mod fuzz;
mod group_commit;
mod http_protocol;
mod hub;
mod idempotency;
mod isolation;
mod limits;
mod live;
mod multipart;
mod operations;
mod persisted_queries;
mod queries;
mod quotas;
mod reminders;
mod reminders_at_scale;
mod replicas;
mod resume;
mod retention;
mod schema_drift;
mod sse;
mod subscriptions;
mod usage_audit;
mod web_assets;
mod webhooks;

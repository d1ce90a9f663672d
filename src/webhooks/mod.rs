//! Webhooks: per-practice endpoints that receive the practice's events as signed HTTP
//! POSTs (Standard Webhooks), from the same log as subscriptions. The dispatcher queues a
//! delivery per matching endpoint and event; the worker attempts them in seq order per
//! endpoint, with retries, behind an SSRF guard.

mod claim;
pub mod deliveries;
mod dispatcher;
pub mod endpoints;
mod guard;
pub mod inputs;
mod message;
mod queue;
mod record;
mod schedule;
mod sender;
mod settings;
mod signing;
mod start;
pub mod websub;
mod worker;

pub use crate::duration::parse_duration;
pub use guard::{Allowlist, is_public};
pub(crate) use message::event_data;
pub use schedule::RetrySchedule;
pub use settings::WebhookArgs;
pub use start::start;

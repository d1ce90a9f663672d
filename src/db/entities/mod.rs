//! One sea-orm entity per table. These are the storage shapes; the records the domain
//! returns and the schema serves live in `vocab`.

pub mod api_key;
pub mod appointment;
pub mod charge;
pub mod event;
pub mod idempotency;
pub mod outbox;
pub mod patient;
pub mod payment;
pub mod persisted_query;
pub mod practice;
pub mod practice_quota;
pub mod provider;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;

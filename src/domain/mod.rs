//! The business rules: one file per aggregate, each a set of service functions that take
//! the services and the acting principal, validate, and change state in one transaction.

pub mod api_keys;
mod appointment_reads;
pub mod appointments;
pub mod billing;
pub mod command;
mod credentials;
pub mod event_log;
pub mod event_poll;
pub mod idempotency;
mod ids;
pub mod lookup;
mod owners;
pub use crate::db::paging;
mod batch;
pub mod patients;
pub mod practices;
pub mod providers;
pub mod quotas;
mod reminder_lead;
pub mod reminders;
mod scheduler;
mod services;
mod tx;
pub mod validate;
pub mod writer;

pub use credentials::Rejected;
pub use ids::new_id;
pub use reminder_lead::{DEFAULT_REMINDER_LEAD, parse_lead};
pub use scheduler::spawn_scheduler;
pub use services::{Faults, Services};
pub use tx::{Begun, MutationTx};

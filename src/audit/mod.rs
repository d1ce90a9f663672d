//! The access audit trail: every read or change of patient data, by any door,
//! as (time, who — an API key by its id, a person by their subject and name — role,
//! operation name, transport, patient ids). Subscriptions and
//! live queries are recorded when they start and stop, with their filter; what they
//! deliver is counted per patient in memory and written as DELIVER rows once per flush
//! (never a row per delivery), so fan-out stays fast. A flush comes every
//! `USAGE_FLUSH_MS`, or sooner once `FLUSH_AT` rows are queued.
//!
//! Rows are appended in batches by the shared [`flusher`](crate::flusher) and never
//! updated; the only delete is `AUDIT_RETENTION`'s pruning (`retention`).

mod filter;
mod recorder;
mod store;
mod touched;

pub use filter::filter;
pub use recorder::{Actor, Entry, FLUSH_AT, Recorder, Watch};
pub use store::{AuditEntry, AuditStore, Criteria, prune};
pub use touched::Touched;

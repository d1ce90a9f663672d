//! Keeping the log bounded: events older than `EVENT_RETENTION`, finished webhook
//! deliveries (and their attempts) older than `WEBHOOK_RETENTION`, idempotency keys older
//! than `IDEMPOTENCY_RETENTION` and audit rows older than `AUDIT_RETENTION` are deleted,
//! at least once a minute (and at least twice per event retention when that is shorter).
//! Every replica prunes; deleting what another replica deleted first is harmless.
//!
//! `settings` reads the four retentions, `prune` deletes what is past them.

mod prune;
mod settings;

pub use prune::{Pruned, interval, prune, run};
pub use settings::{RetentionArgs, parse_retention};

//! Usage metering: per practice, API key and UTC hour — operations by type,
//! deliveries by transport and by event type, and the peak of open connections and
//! subscriptions. Counted in memory on each replica ([`Meter`]) and added to the database
//! every `USAGE_FLUSH_MS` by one upsert that adds (`n = n + excluded.n`), so replicas
//! never overwrite or double-count each other; a crash loses at most one interval.
//!
//! Peaks are kept per replica (each writes its own row); the cluster's peak for an hour
//! is the sum of the replicas' peaks in that hour — an upper bound of the true
//! simultaneous peak, exact for one replica (see docs/src/quotas-usage-audit.md).

mod meter;
mod prometheus;
mod report;
mod store;

pub use meter::{Held, Meter, OpKind, Who};
pub use prometheus::PerPractice;
pub use report::{Bucket, EventTypeCount, MAX_RANGE_DAYS, Report, TransportCount};
pub use store::Store;

use clap::Args;

/// The metering settings.
#[derive(Debug, Clone, Args)]
pub struct MeteringArgs {
    /// How often each replica writes its usage counts and audit rows, in milliseconds
    /// (100..=60000). A crash loses at most this much.
    #[arg(long, env = "USAGE_FLUSH_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub usage_flush_ms: u64,
    /// Whether reads and changes of patient data are recorded in the audit trail.
    #[arg(long, env = "AUDIT", default_value_t = true, action = clap::ArgAction::Set)]
    pub audit: bool,
    /// Whether `/metrics` carries per-practice usage series (one per practice and
    /// transport: opt in only with a bounded number of practices).
    #[arg(long, env = "METRICS_PER_PRACTICE", default_value_t = false, action = clap::ArgAction::Set)]
    pub metrics_per_practice: bool,
}

/// The start of the UTC hour `ms` falls in.
pub fn hour_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(3_600_000)
}

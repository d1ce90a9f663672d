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
mod settings;
mod store;

pub use meter::{Held, Meter, OpKind, UsageKey};
pub use prometheus::PerPractice;
pub use report::{Bucket, EventTypeCount, MAX_RANGE_DAYS, Report, TransportCount};
pub use settings::MeteringArgs;
pub use store::UsageStore;

/// The start of the UTC hour `ms` falls in.
pub fn hour_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(3_600_000)
}

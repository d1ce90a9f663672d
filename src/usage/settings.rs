//! The metering settings: how often counts are written, whether reads and changes of
//! patient data are audited, and whether `/metrics` carries per-practice series.

use clap::Args;

/// The metering settings.
#[derive(Debug, Clone, Args)]
pub struct MeteringArgs {
    /// How often each replica writes its usage counts and audit rows, in milliseconds
    /// (100..=60000); audit rows also go as soon as 300 are queued. A crash loses at most
    /// this much.
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

//! The lake's settings: the sink's (`LAKE_*`, flattened into `Config`) and the `export`
//! subcommand's flags. Both name their destination the same way (`destination`).

use clap::Args;
use std::time::Duration;

use crate::bridges::PayloadMode;
use crate::db::DbArgs;
use crate::duration::parse_duration;

/// The most rows one sink file or one export file may hold.
pub const MAX_FILE_ROWS: u64 = 1_000_000;

#[derive(Debug, Clone, Args)]
pub struct LakeArgs {
    /// Where the lake sink writes Parquet files: a directory, `file:///path` or
    /// `s3://bucket/prefix` (credentials and region from the usual `AWS_*` variables).
    /// Unset: no sink.
    #[arg(id = "lake_url", long = "lake-url", env = "LAKE_URL")]
    pub url: Option<String>,
    /// A practice's buffered events are written as a file once there are this many.
    #[arg(id = "lake_flush_rows", long = "lake-flush-rows", env = "LAKE_FLUSH_ROWS", default_value_t = 10_000)]
    pub flush_rows: u64,
    /// … or once the oldest buffered event waited this long.
    #[arg(id = "lake_flush_interval", long = "lake-flush-interval", env = "LAKE_FLUSH_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub flush_interval: Duration,
    /// `full`: the typed snapshot columns and `data` as the webhook `data`; `thin`: ids
    /// and types only (no names, amounts, reasons).
    #[arg(id = "lake_payload", long = "lake-payload", env = "LAKE_PAYLOAD", value_enum, default_value = "full")]
    pub payload: PayloadMode,
}

impl LakeArgs {
    pub fn validate(&self) -> Result<(), String> {
        if self.flush_rows == 0 || self.flush_rows > MAX_FILE_ROWS {
            return Err(format!("LAKE_FLUSH_ROWS: must be between 1 and {MAX_FILE_ROWS}"));
        }
        if self.flush_interval < Duration::from_millis(100) {
            return Err("LAKE_FLUSH_INTERVAL: must be at least 100ms".into());
        }
        if let Some(url) = &self.url {
            super::destination::Destination::parse(url).map_err(|e| format!("LAKE_URL: {e}"))?;
        }
        Ok(())
    }
}

/// `clinicstream export`: the log as Parquet files, from where the last run stopped.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// A directory, `file:///path` or `s3://bucket/prefix`.
    #[arg(long)]
    pub to: String,
    /// Export only this practice (repeatable); default: every practice.
    #[arg(long = "practice")]
    pub practices: Vec<String>,
    /// Start after this event cursor (repeatable, one per practice; it names its practice).
    #[arg(long = "after")]
    pub after: Vec<String>,
    /// A JSON file of each practice's last exported cursor: read at the start, rewritten
    /// (atomically) after every file, so the next run writes only what is new.
    #[arg(long)]
    pub state: Option<std::path::PathBuf>,
    /// `full` or `thin`, as `LAKE_PAYLOAD`.
    #[arg(long, value_enum, default_value = "full")]
    pub payload: PayloadMode,
    /// The most rows in one file (a file also ends at a UTC day).
    #[arg(long, default_value_t = 100_000)]
    pub file_rows: u64,
    #[command(flatten)]
    pub db: DbArgs,
}

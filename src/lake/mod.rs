//! The lake: the practices' logs as Apache Parquet files on a directory or S3,
//! Hive-partitioned by practice and UTC day, readable by DuckDB, pandas and Spark as they
//! come — written once by `clinicstream export` (incremental by cursor or state file) or
//! continuously by the sink the server runs like a bridge (`LAKE_URL`).

mod columns;
mod destination;
mod export;
mod files;
mod settings;
mod sink;
mod state;

pub use columns::SCHEMA;
pub use destination::Destination;
pub use export::{Summary, export};
pub use settings::{ExportArgs, LakeArgs};
pub use sink::Sink;

//! The lake: `clinicstream export` and the `LAKE_URL` sink write the logs as Parquet
//! files, read back here by DuckDB and pyarrow (PyPI, pinned, in a Python subprocess):
//! per practice every event once and no gap, typed columns, and `data` equal to the
//! webhook body's `data` of the same event; incremental runs, a SIGKILLed run, a killed
//! sink replica, bad input, and S3 (moto's server).

mod bad_input;
mod export;
mod s3;
mod sink;
pub mod support;

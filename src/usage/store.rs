//! The database side: the flush (adding upserts, one transaction) and the report query.

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait, Value};
use std::sync::Arc;

use super::hour_of;
use super::meter::{Meter, Taken};
use super::report::{Report, fold};
use crate::db::{bind, bind_in_order};
use crate::error::AppResult;

/// Rows per INSERT statement (Postgres allows 65,535 parameters; SQLite 32,766).
const ROWS: usize = 500;

/// Writes a replica's meter and reads everyone's usage back.
pub struct UsageStore {
    db: DatabaseConnection,
    meter: Arc<Meter>,
    /// This replica's id in `usage_peaks`.
    replica: String,
}

impl UsageStore {
    pub fn new(db: DatabaseConnection, meter: Arc<Meter>) -> Self {
        Self { db, meter, replica: uuid::Uuid::now_v7().simple().to_string() }
    }

    /// Adds what the meter counted since the last flush. If the write fails, the deltas
    /// go back into the meter (the transaction wrote none of them).
    pub async fn flush_now(&self) -> AppResult<()> {
        let taken = self.meter.take();
        if taken.counts.is_empty() && taken.peaks.is_empty() {
            return Ok(());
        }
        match self.write(&taken).await {
            Ok(()) => Ok(()),
            Err(err) => {
                self.meter.restore(taken);
                Err(err)
            }
        }
    }

    async fn write(&self, taken: &Taken) -> AppResult<()> {
        let backend = self.db.get_database_backend();
        let greatest = if backend == DbBackend::Postgres { "GREATEST" } else { "MAX" };
        let txn = self.db.begin().await?;
        let counts: Vec<_> = taken.counts.iter().collect();
        for chunk in counts.chunks(ROWS) {
            let mut values = Vec::new();
            let rows: Vec<String> = chunk
                .iter()
                .map(|((who, hour, metric), n)| {
                    let p = bind_in_order(backend, who.practice_id.to_string().into(), &mut values);
                    let k = bind_in_order(backend, who.api_key_id.to_string().into(), &mut values);
                    let h = bind_in_order(backend, (*hour).into(), &mut values);
                    let m = bind_in_order(backend, metric.name().into(), &mut values);
                    let n = bind_in_order(backend, (**n as i64).into(), &mut values);
                    format!("({p}, {k}, {h}, {m}, {n})")
                })
                .collect();
            let sql = format!(
                "INSERT INTO usage_counts (practice_id, api_key_id, hour, metric, n) VALUES {} \
                 ON CONFLICT (practice_id, hour, api_key_id, metric) DO UPDATE SET n = usage_counts.n + excluded.n",
                rows.join(", ")
            );
            txn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
        }
        let peaks: Vec<_> = taken.peaks.iter().collect();
        for chunk in peaks.chunks(ROWS) {
            let mut values = Vec::new();
            let rows: Vec<String> = chunk
                .iter()
                .map(|((practice, key, hour, gauge), n)| {
                    let p = bind_in_order(backend, practice.to_string().into(), &mut values);
                    let k = bind_in_order(backend, key.to_string().into(), &mut values);
                    let h = bind_in_order(backend, (*hour).into(), &mut values);
                    let r = bind_in_order(backend, self.replica.clone().into(), &mut values);
                    let g = bind_in_order(backend, gauge.name().into(), &mut values);
                    let n = bind_in_order(backend, (**n).into(), &mut values);
                    format!("({p}, {k}, {h}, {r}, {g}, {n})")
                })
                .collect();
            let sql = format!(
                "INSERT INTO usage_peaks (practice_id, api_key_id, hour, replica, metric, n) VALUES {} \
                 ON CONFLICT (practice_id, hour, api_key_id, replica, metric) \
                 DO UPDATE SET n = {greatest}(usage_peaks.n, excluded.n)",
                rows.join(", ")
            );
            txn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// The usage of `practice_id` (or of one of its keys) in the hours from the one
    /// `from` falls in up to `to` (exclusive), as flushed so far by every replica.
    pub async fn report(
        &self,
        practice_id: &str,
        api_key_id: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> AppResult<Report> {
        let backend = self.db.get_database_backend();
        let mut values: Vec<Value> = Vec::new();
        let p = bind(practice_id.into(), &mut values);
        let start = bind(hour_of(from.timestamp_millis()).into(), &mut values);
        let end = bind(to.timestamp_millis().into(), &mut values);
        let key_filter = match api_key_id {
            Some(key) => format!("AND api_key_id = {}", bind(key.into(), &mut values)),
            None => String::new(),
        };
        let sql = format!(
            "SELECT hour, metric, CAST(SUM(n) AS BIGINT) AS n FROM usage_counts \
             WHERE practice_id = {p} AND hour >= {start} AND hour < {end} {key_filter} GROUP BY hour, metric"
        );
        let counts = tuples(&self.db, Statement::from_sql_and_values(backend, sql, values)).await?;
        let mut values: Vec<Value> = Vec::new();
        let p = bind(practice_id.into(), &mut values);
        let start = bind(hour_of(from.timestamp_millis()).into(), &mut values);
        let end = bind(to.timestamp_millis().into(), &mut values);
        let key = bind(api_key_id.unwrap_or("*").into(), &mut values);
        let sql = format!(
            "SELECT hour, metric, CAST(SUM(n) AS BIGINT) AS n FROM usage_peaks \
             WHERE practice_id = {p} AND hour >= {start} AND hour < {end} AND api_key_id = {key} GROUP BY hour, metric"
        );
        let peaks = tuples(&self.db, Statement::from_sql_and_values(backend, sql, values)).await?;
        Ok(fold(Report::empty(practice_id, api_key_id, from, to), counts, peaks))
    }
}

async fn tuples(db: &DatabaseConnection, statement: Statement) -> AppResult<Vec<(i64, String, i64)>> {
    let rows = db.query_all_raw(statement).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push((row.try_get::<i64>("", "hour")?, row.try_get::<String>("", "metric")?, row.try_get::<i64>("", "n")?));
    }
    Ok(out)
}

impl crate::flusher::Flush for UsageStore {
    fn name(&self) -> &'static str {
        "usage"
    }

    fn flush(&self) -> BoxFuture<'_, AppResult<()>> {
        self.flush_now().boxed()
    }
}

//! The database side: appending the recorder's rows (batched), reading a practice's
//! trail newest first, and pruning past `AUDIT_RETENTION`.

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, Value};
use std::sync::Arc;

use super::recorder::Recorder;
use crate::db::paging::{self, Page};
use crate::db::{bind, bind_in_order};
use crate::error::{AppError, AppResult};
use crate::vocab::{AuditAction, Role, Transport};

/// Rows per INSERT statement: as many as make a flush due.
const ROWS: usize = super::recorder::FLUSH_AT;
/// Rows deleted per pruning statement.
const PRUNE_PAGE: i64 = 1000;

/// One recorded access, as `auditLog` returns it.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    pub api_key_id: Option<String>,
    pub subject: Option<String>,
    pub actor_name: Option<String>,
    pub role: Role,
    pub operation_name: Option<String>,
    pub transport: Transport,
    pub action: AuditAction,
    pub patient_ids: Vec<String>,
    /// A subscription's or live query's field and arguments (SUBSCRIBE, UNSUBSCRIBE,
    /// DELIVER rows).
    pub filter: Option<String>,
    /// For DELIVER rows: how many events were delivered for these patients in the batch.
    pub deliveries: Option<i64>,
}

/// Which rows `AuditStore::page` returns: all of the practice's, or those of one patient, of
/// one person, within [from, to).
#[derive(Clone, Copy, Debug, Default)]
pub struct Criteria<'a> {
    pub patient_id: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

pub struct AuditStore {
    db: DatabaseConnection,
    recorder: Arc<Recorder>,
}

impl AuditStore {
    pub fn new(db: DatabaseConnection, recorder: Arc<Recorder>) -> Self {
        Self { db, recorder }
    }

    /// Appends what the recorder holds; on a failure the rows go back for the next flush.
    pub async fn flush_now(&self) -> AppResult<()> {
        let rows = self.recorder.take();
        if rows.is_empty() {
            return Ok(());
        }
        let backend = self.db.get_database_backend();
        let mut written = 0;
        for chunk in rows.chunks(ROWS) {
            let mut values = Vec::new();
            let tuples: Vec<String> = chunk
                .iter()
                .map(|e| {
                    let fields: [Value; 12] = [
                        e.practice_id.to_string().into(),
                        e.at_ms.into(),
                        e.actor.api_key_id.as_deref().map(str::to_string).into(),
                        e.actor.subject.as_deref().map(str::to_string).into(),
                        e.actor.actor_name.as_deref().map(str::to_string).into(),
                        e.actor.role.as_str().into(),
                        e.actor.operation_name.as_deref().map(str::to_string).into(),
                        e.actor.transport.as_str().into(),
                        e.action.as_str().into(),
                        format!(",{},", e.patient_ids.join(",")).into(),
                        e.filter.as_deref().map(str::to_string).into(),
                        e.deliveries.into(),
                    ];
                    let marks: Vec<String> =
                        fields.into_iter().map(|v| bind_in_order(backend, v, &mut values)).collect();
                    format!("({})", marks.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO audit_log (practice_id, at, api_key_id, subject, actor_name, role, operation_name, \
                 transport, action, patient_ids, filter, deliveries) VALUES {}",
                tuples.join(", ")
            );
            if let Err(err) = self.db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await {
                // The chunks before this one are in: keep only the rest.
                self.recorder.restore(rows[written..].to_vec());
                return Err(err.into());
            }
            written += chunk.len();
        }
        Ok(())
    }

    /// A practice's trail, newest first, narrowed by `criteria`.
    pub async fn page(
        &self,
        practice_id: &str,
        criteria: Criteria<'_>,
        first: u64,
        after: Option<&str>,
    ) -> AppResult<Page<AuditEntry>> {
        let Criteria { patient_id, subject, from, to } = criteria;
        let backend = self.db.get_database_backend();
        let mut values: Vec<Value> = Vec::new();
        let mut sql = format!(
            "SELECT id, at, api_key_id, subject, actor_name, role, operation_name, transport, action, patient_ids, \
             filter, deliveries FROM audit_log WHERE practice_id = {}",
            bind(practice_id.into(), &mut values)
        );
        if let Some(patient) = patient_id {
            // Ids are checked to be plain text before they get here (no `%`, `_` or `,`).
            sql += &format!(" AND patient_ids LIKE {}", bind(format!("%,{patient},%").into(), &mut values));
        }
        if let Some(subject) = subject {
            sql += &format!(" AND subject = {}", bind(subject.into(), &mut values));
        }
        if let Some(from) = from {
            sql += &format!(" AND at >= {}", bind(from.timestamp_millis().into(), &mut values));
        }
        if let Some(to) = to {
            sql += &format!(" AND at < {}", bind(to.timestamp_millis().into(), &mut values));
        }
        if let Some(after) = after {
            let id: i64 = paging::decode(after)?
                .strip_prefix("audit:")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| AppError::bad_input("after: invalid cursor"))?;
            sql += &format!(" AND id < {}", bind(id.into(), &mut values));
        }
        sql += &format!(" ORDER BY id DESC LIMIT {}", first + 1);
        let rows = self.db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("", "id")?;
            let text = |column: &str| row.try_get::<String>("", column);
            let patients = text("patient_ids")?;
            let entry = AuditEntry {
                id: id.to_string(),
                at: DateTime::from_timestamp_millis(row.try_get("", "at")?).unwrap_or_default(),
                api_key_id: row.try_get::<Option<String>>("", "api_key_id")?,
                subject: row.try_get("", "subject")?,
                actor_name: row.try_get("", "actor_name")?,
                role: Role::parse(&text("role")?).unwrap_or(Role::Admin),
                operation_name: row.try_get("", "operation_name")?,
                transport: Transport::parse(&text("transport")?).unwrap_or(Transport::Http),
                action: AuditAction::parse(&text("action")?).unwrap_or(AuditAction::Read),
                patient_ids: patients.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect(),
                filter: row.try_get("", "filter")?,
                deliveries: row.try_get("", "deliveries")?,
            };
            entries.push((id, entry));
        }
        Ok(Page::from_rows(entries, first, after.is_some(), |(id, entry)| {
            (paging::encode(&format!("audit:{id}")), entry)
        }))
    }
}

/// Deletes audit rows older than `cutoff_ms`, a page per statement; returns how many.
pub async fn prune(db: &DatabaseConnection, cutoff_ms: i64) -> AppResult<u64> {
    let backend = db.get_database_backend();
    let mut deleted = 0;
    loop {
        let mut values = Vec::new();
        let cutoff = bind(cutoff_ms.into(), &mut values);
        let sql = format!(
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < {cutoff} ORDER BY id LIMIT {PRUNE_PAGE})"
        );
        let n = db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?.rows_affected();
        deleted += n;
        if n < PRUNE_PAGE as u64 {
            return Ok(deleted);
        }
    }
}

impl crate::flusher::Flush for AuditStore {
    fn name(&self) -> &'static str {
        "audit"
    }

    fn flush(&self) -> BoxFuture<'_, AppResult<()>> {
        self.flush_now().boxed()
    }

    fn due(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.recorder.due())
    }
}

//! The durable event log: appending inside a batch's transaction, and reading ranges
//! back for replay, gap fill and the `events` query.

use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement, Value,
    prelude::*,
};

use super::StoredEvent;
use crate::clock::to_millis;
use crate::db::ROWS_PER_INSERT;
use crate::db::bind;
use crate::db::entities::{event, practice};
use crate::error::{AppError, AppResult};
use crate::telemetry::TraceContext;
use crate::vocab::EventType;

/// Writes a batch's events (seqs assigned by the practice's writer, which holds the
/// practice's counter row lock), `ROWS_PER_INSERT` per statement.
async fn insert_many(conn: &impl ConnectionTrait, events: &[StoredEvent]) -> AppResult<()> {
    let rows = events
        .iter()
        .map(|event| {
            Ok(event::ActiveModel {
                practice_id: Set(event.practice_id.clone()),
                seq: Set(event.seq),
                event_type: Set(event.event_type.as_str().to_string()),
                occurred_at: Set(to_millis(event.occurred_at)),
                payload: Set(serde_json::to_string(&event.payload)?),
                trace_context: Set(event.trace.as_ref().map(TraceContext::encode)),
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        event::Entity::insert_many(chunk.to_vec()).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// Writes a batch's events, their outbox rows (when `outbox_at` is set) and each
/// practice's counter: `practices` are (practice, its events in seq order), each practice's
/// counter row locked by the batch. On Postgres that is one statement for the whole batch
/// (one round trip while the batch holds the locks); on SQLite, one statement each.
pub async fn append_batch(
    conn: &impl ConnectionTrait,
    practices: &[(&str, &[StoredEvent])],
    outbox_at: Option<i64>,
) -> AppResult<()> {
    let practices: Vec<(&str, &[StoredEvent])> = practices.iter().copied().filter(|(_, e)| !e.is_empty()).collect();
    let events: usize = practices.iter().map(|(_, e)| e.len()).sum();
    if events == 0 {
        return Ok(());
    }
    if conn.get_database_backend() == DbBackend::Postgres && events <= ROWS_PER_INSERT {
        conn.execute_raw(one_statement(&practices, outbox_at)?).await?;
        return Ok(());
    }
    for (practice_id, events) in practices {
        insert_many(conn, events).await?;
        if let Some(now_ms) = outbox_at {
            super::outbox::record_many(conn, events, now_ms).await?;
        }
        let last = events.last().map_or(0, |e| e.seq);
        practice::Entity::update_many()
            .col_expr(practice::Column::LastSeq, Expr::value(last))
            .filter(practice::Column::Id.eq(practice_id))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// `WITH e AS (INSERT INTO events …), o AS (INSERT INTO outbox …) UPDATE practices …`.
fn one_statement(practices: &[(&str, &[StoredEvent])], outbox_at: Option<i64>) -> AppResult<Statement> {
    let events = || practices.iter().flat_map(|(_, events)| events.iter());
    let count = events().count();
    let mut values: Vec<Value> = Vec::with_capacity(count * 9 + practices.len() * 2);
    let mut rows = Vec::with_capacity(count);
    for event in events() {
        let row = [
            bind(event.practice_id.clone().into(), &mut values),
            bind(event.seq.into(), &mut values),
            bind(event.event_type.as_str().into(), &mut values),
            bind(to_millis(event.occurred_at).into(), &mut values),
            bind(serde_json::to_string(&event.payload)?.into(), &mut values),
            bind(event.trace.as_ref().map(TraceContext::encode).into(), &mut values),
        ];
        rows.push(format!("({})", row.join(", ")));
    }
    let mut sql = format!(
        "WITH e AS (INSERT INTO events (practice_id, seq, type, occurred_at, payload, trace_context) VALUES {})",
        rows.join(", ")
    );
    if let Some(now_ms) = outbox_at {
        let mut rows = Vec::with_capacity(count);
        for event in events() {
            let row = [
                bind(event.practice_id.clone().into(), &mut values),
                bind(event.seq.into(), &mut values),
                bind(now_ms.into(), &mut values),
            ];
            rows.push(format!("({})", row.join(", ")));
        }
        sql.push_str(&format!(", o AS (INSERT INTO outbox (practice_id, seq, created_at) VALUES {})", rows.join(", ")));
    }
    if let [(practice_id, events)] = practices {
        let seq = bind(events.last().map_or(0, |e| e.seq).into(), &mut values);
        let id = bind((*practice_id).into(), &mut values);
        sql.push_str(&format!(" UPDATE practices SET last_seq = {seq} WHERE id = {id}"));
    } else {
        let mut rows = Vec::with_capacity(practices.len());
        for (practice_id, events) in practices {
            let id = bind((*practice_id).into(), &mut values);
            let seq = bind(events.last().map_or(0, |e| e.seq).into(), &mut values);
            rows.push(format!("({id}::text, {seq}::bigint)"));
        }
        sql.push_str(&format!(
            " UPDATE practices SET last_seq = v.seq FROM (VALUES {}) AS v(id, seq) WHERE practices.id = v.id",
            rows.join(", ")
        ));
    }
    Ok(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
}

/// Events with `after < seq <= through` (all after `after` when `through` is None), in seq
/// order, at most `limit`, optionally only of some types.
pub async fn read_range(
    conn: &impl ConnectionTrait,
    practice_id: &str,
    after: i64,
    through: Option<i64>,
    types: Option<&[EventType]>,
    limit: u64,
) -> AppResult<Vec<StoredEvent>> {
    let mut query =
        event::Entity::find().filter(event::Column::PracticeId.eq(practice_id)).filter(event::Column::Seq.gt(after));
    if let Some(through) = through {
        query = query.filter(event::Column::Seq.lte(through));
    }
    if let Some(types) = types {
        query = query.filter(event::Column::EventType.is_in(types.iter().map(|t| t.as_str())));
    }
    let rows = query.order_by_asc(event::Column::Seq).limit(limit).all(conn).await?;
    rows.into_iter().map(StoredEvent::from_row).collect()
}

/// Rows one round trip of `read_about` reads.
const ABOUT_PAGE: u64 = 500;

/// Like `read_range` (with no upper bound), but only the events about one patient — a
/// patient's `events` query. The payload is JSON that quotes the patient's id, so the
/// database narrows the scan by that text; the snapshot's own patient decides (a reason or
/// description could quote an id too).
pub async fn read_about(
    conn: &impl ConnectionTrait,
    practice_id: &str,
    mut after: i64,
    types: Option<&[EventType]>,
    patient_id: &str,
    limit: u64,
) -> AppResult<Vec<StoredEvent>> {
    let quoted = serde_json::to_string(patient_id)?;
    let escaped = quoted.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    let mentions = event::Column::Payload.like(LikeExpr::new(format!("%{escaped}%")).escape('\\'));
    let mut out = Vec::new();
    loop {
        let mut query = event::Entity::find()
            .filter(event::Column::PracticeId.eq(practice_id))
            .filter(event::Column::Seq.gt(after))
            .filter(mentions.clone());
        if let Some(types) = types {
            query = query.filter(event::Column::EventType.is_in(types.iter().map(|t| t.as_str())));
        }
        let rows = query.order_by_asc(event::Column::Seq).limit(ABOUT_PAGE).all(conn).await?;
        let more = rows.len() as u64 == ABOUT_PAGE;
        for row in rows {
            after = row.seq;
            let event = StoredEvent::from_row(row)?;
            if event.payload.patient_id() == patient_id {
                out.push(event);
                if out.len() as u64 >= limit {
                    return Ok(out);
                }
            }
        }
        if !more {
            return Ok(out);
        }
    }
}

/// The practice's last committed seq, or None if there is no such practice.
pub async fn head(conn: &impl ConnectionTrait, practice_id: &str) -> AppResult<Option<i64>> {
    Ok(practice::Entity::find_by_id(practice_id).one(conn).await?.map(|p| p.last_seq))
}

/// The oldest seq still in the log (events before it were pruned by retention).
pub async fn first_seq(conn: &impl ConnectionTrait, practice_id: &str) -> AppResult<Option<i64>> {
    let first = event::Entity::find()
        .filter(event::Column::PracticeId.eq(practice_id))
        .order_by_asc(event::Column::Seq)
        .one(conn)
        .await?;
    Ok(first.map(|e| e.seq))
}

/// Checks a resume point: it must not be ahead of the log, nor behind what is retained.
pub async fn check_resume_point(conn: &impl ConnectionTrait, practice_id: &str, seq: i64) -> AppResult<()> {
    let head = head(conn, practice_id).await?.ok_or(AppError::NotFound("practice"))?;
    if seq > head {
        return Err(AppError::bad_input("cursor is ahead of the practice's event log"));
    }
    // With every event pruned, the next one to be written is the oldest available.
    let first = first_seq(conn, practice_id).await?.unwrap_or(head + 1);
    if seq + 1 < first {
        return Err(AppError::CursorExpired(format!(
            "events after this cursor are no longer retained; the oldest available seq is {first}"
        )));
    }
    Ok(())
}

//! The durable event log: appending inside a batch's transaction, and reading ranges
//! back for replay, gap fill and the `events` query.

use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, prelude::*};

use super::StoredEvent;
use crate::clock::to_millis;
use crate::db::entities::{event, practice};
use crate::error::{AppError, AppResult};
use crate::vocab::EventType;

/// Rows per INSERT statement (Postgres takes at most 65,535 bind parameters).
pub const ROWS_PER_INSERT: usize = 1000;

/// Writes a batch's events (seqs assigned by the practice's writer, which holds the
/// practice's counter row lock) in one statement.
pub async fn insert_many(conn: &impl ConnectionTrait, events: &[StoredEvent]) -> AppResult<()> {
    let rows = events
        .iter()
        .map(|event| {
            Ok(event::ActiveModel {
                practice_id: Set(event.practice_id.clone()),
                seq: Set(event.seq),
                event_type: Set(event.event_type.as_str().to_string()),
                occurred_at: Set(to_millis(event.occurred_at)),
                payload: Set(serde_json::to_string(&event.payload)?),
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        event::Entity::insert_many(chunk.to_vec()).exec_without_returning(conn).await?;
    }
    Ok(())
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
    if let Some(first) = first_seq(conn, practice_id).await?
        && seq + 1 < first
    {
        return Err(AppError::CursorExpired(format!(
            "events after this cursor are no longer retained; the oldest available seq is {first}"
        )));
    }
    Ok(())
}

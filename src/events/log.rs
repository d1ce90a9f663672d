//! The durable event log: appending inside a mutation's transaction, and reading ranges
//! back for replay, gap fill and the `events` query.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, prelude::*};

use super::StoredEvent;
use crate::clock::to_millis;
use crate::db::entities::{event, practice};
use crate::error::{AppError, AppResult};
use crate::vocab::EventType;

/// Takes the practice's next seq. The UPDATE locks the practice's counter row until the
/// transaction ends, so concurrent appenders queue up and seqs are gapless in commit order.
pub async fn reserve_seq(conn: &impl ConnectionTrait, practice_id: &str) -> AppResult<i64> {
    let rows = practice::Entity::update_many()
        .col_expr(practice::Column::LastSeq, Expr::col(practice::Column::LastSeq).add(1))
        .filter(practice::Column::Id.eq(practice_id))
        .exec_with_returning(conn)
        .await?;
    rows.first().map(|p| p.last_seq).ok_or(AppError::NotFound("practice"))
}

/// Writes an event whose seq came from `reserve_seq` in the same transaction.
pub async fn insert(conn: &impl ConnectionTrait, event: &StoredEvent) -> AppResult<()> {
    event::Entity::insert(event::ActiveModel {
        practice_id: Set(event.practice_id.clone()),
        seq: Set(event.seq),
        event_type: Set(event.event_type.as_str().to_string()),
        occurred_at: Set(to_millis(event.occurred_at)),
        payload: Set(serde_json::to_string(&event.payload)?),
    })
    .exec_without_returning(conn)
    .await?;
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

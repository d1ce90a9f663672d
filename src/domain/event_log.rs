//! Reading a practice's event log page by page (the `events` query), and what a caller
//! may see of it (`visible`, which long polling reads too).

use std::sync::Arc;

use super::{Services, paging::Page, validate};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::events::{Cursor, StoredEvent, log};
use crate::vocab::EventType;

pub async fn page(
    s: &Services,
    who: &Principal,
    practice_id: &str,
    types: Option<&[EventType]>,
    after: Option<&str>,
    first: Option<i32>,
) -> AppResult<Page<Arc<StoredEvent>>> {
    let practice_id = validate::id("practiceId", practice_id)?;
    who.read(practice_id, "practice")?;
    let limit = validate::page_size(first)?;
    let after_seq = match after {
        Some(cursor) => {
            let cursor = Cursor::decode_for(cursor, practice_id)?;
            log::check_resume_point(&s.db, practice_id, cursor.seq).await?;
            cursor.seq
        }
        None => {
            log::head(&s.db, practice_id).await?.ok_or(AppError::NotFound("practice"))?;
            0
        }
    };
    let rows = visible(s, who, practice_id, after_seq, types, limit + 1).await?;
    Ok(Page::from_rows(rows, limit, after.is_some(), |e| (e.cursor(), Arc::new(e))))
}

/// At most `limit` of the events after `after_seq` that `who` may see, in seq order. A
/// patient's log holds the events about them; its cursors stay the practice's.
pub(crate) async fn visible(
    s: &Services,
    who: &Principal,
    practice_id: &str,
    after_seq: i64,
    types: Option<&[EventType]>,
    limit: u64,
) -> AppResult<Vec<StoredEvent>> {
    match who.patient_id() {
        Some(own) => log::read_about(&s.db, practice_id, after_seq, types, own, limit).await,
        None => log::read_range(&s.db, practice_id, after_seq, None, types, limit).await,
    }
}

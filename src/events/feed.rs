//! One subscriber's view of a practice's events: replay from a cursor, then live, with
//! every event exactly once and in seq order.
//!
//! The bus is subscribed *before* the log is read, so nothing committed in between is
//! missed; anything seen twice is dropped by seq. A seq that jumps (two commits published
//! out of order) first waits briefly for the missing events to arrive; a gap that stays,
//! or a receiver that lagged behind the bus, is repaired by reading the missing range from
//! the log, so a slow subscriber catches up instead of losing events.

use futures_util::Stream;
use sea_orm::DatabaseConnection;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, timeout_at};

use super::{BusMessage, BusSubscription, Counters, Cursor, SharedBus, StoredEvent, log};
use crate::error::{AppError, AppResult};
use crate::vocab::EventType;

/// Rows read from the log per round trip while replaying or catching up.
const PAGE: u64 = 500;
/// How long events that arrived ahead of a missing seq wait for it before the gap is
/// read from the log. Out-of-order publishes of concurrent commits are usually
/// microseconds apart; reading the log instead would queue behind those very writers.
const REORDER_WAIT: Duration = Duration::from_millis(25);

/// Drops the events held ahead of a gap and returns the last one's seq: the log is read
/// through it instead.
fn release(ahead: &mut BTreeMap<i64, Arc<StoredEvent>>) -> Option<i64> {
    let through = ahead.last_key_value().map(|(seq, _)| *seq);
    ahead.clear();
    through
}

/// Which of the practice's events a subscriber wants.
#[derive(Clone, Debug, Default)]
pub struct FeedFilter {
    pub types: Option<Vec<EventType>>,
    pub provider_id: Option<String>,
    pub patient_id: Option<String>,
}

impl FeedFilter {
    pub fn matches(&self, event: &StoredEvent) -> bool {
        self.types.as_ref().is_none_or(|t| t.contains(&event.event_type))
            && self.provider_id.as_deref().is_none_or(|p| event.payload.provider_id() == Some(p))
            && self.patient_id.as_deref().is_none_or(|p| event.payload.patient_id() == p)
    }
}

/// Where a subscriber starts: after the cursor's seq (checked against the log's head and
/// retention), or at the current head for one that only wants what happens from now on.
pub async fn start_seq(db: &DatabaseConnection, practice_id: &str, cursor: Option<Cursor>) -> AppResult<i64> {
    match cursor {
        Some(cursor) => {
            log::check_resume_point(db, practice_id, cursor.seq).await?;
            Ok(cursor.seq)
        }
        None => log::head(db, practice_id).await?.ok_or(AppError::NotFound("practice")),
    }
}

pub struct Feed {
    db: DatabaseConnection,
    practice_id: String,
    filter: FeedFilter,
    /// The last seq this subscriber has passed (delivered or filtered out).
    last_seq: i64,
    subscription: BusSubscription,
    counters: Arc<Counters>,
}

impl Feed {
    /// Subscribes to the practice and fixes the starting point: the cursor's seq, or the
    /// current head for a subscriber that only wants what happens from now on.
    pub async fn open(
        db: &DatabaseConnection,
        bus: &SharedBus,
        counters: &Arc<Counters>,
        practice_id: &str,
        after: Option<&str>,
        filter: FeedFilter,
    ) -> AppResult<Self> {
        let cursor = after.map(|c| Cursor::decode_for(c, practice_id)).transpose()?;
        let subscription = bus.subscribe(practice_id).await;
        let last_seq = start_seq(db, practice_id, cursor).await?;
        Ok(Self {
            db: db.clone(),
            practice_id: practice_id.to_string(),
            filter,
            last_seq,
            subscription,
            counters: counters.clone(),
        })
    }

    /// The last seq the feed has passed: where it stands before it yields anything.
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    pub fn into_stream(mut self) -> impl Stream<Item = AppResult<Arc<StoredEvent>>> + Send {
        async_stream::try_stream! {
            // While Some, the feed reads the log page by page (up to the inner bound, or to
            // the end) before taking live events again; it starts by replaying the cursor.
            let mut catch_up: Option<Option<i64>> = Some(None);
            // Events that arrived ahead of a missing seq. Concurrent commits often publish
            // out of order and the missing event follows within a moment, so they wait up
            // to REORDER_WAIT for it before the gap is read from the log.
            let mut ahead: BTreeMap<i64, Arc<StoredEvent>> = BTreeMap::new();
            let mut gap_deadline: Option<Instant> = None;
            loop {
                if let Some(through) = catch_up {
                    // Boxed so the query's (large) future is not part of the stream's
                    // own state, which every live subscriber holds.
                    let (events, more) = Box::pin(self.next_page(through)).await?;
                    for event in events {
                        yield event;
                    }
                    if !more {
                        catch_up = None;
                    }
                    continue;
                }
                while let Some(held) = ahead.first_entry() {
                    let seq = *held.key();
                    if seq > self.last_seq + 1 {
                        break;
                    }
                    let event = held.remove();
                    if seq == self.last_seq + 1 {
                        self.last_seq = seq;
                        if self.filter.matches(&event) {
                            yield event;
                        }
                    }
                }
                if ahead.is_empty() {
                    gap_deadline = None;
                }
                let received = match gap_deadline {
                    None => self.subscription.receiver.recv().await,
                    Some(deadline) => match timeout_at(deadline, self.subscription.receiver.recv()).await {
                        Ok(received) => received,
                        // The missing seq did not come (its publish was lost, or is slow):
                        // read everything up to the last held event from the log.
                        Err(_) => {
                            self.counters.gap_fills.inc();
                            catch_up = Some(release(&mut ahead));
                            continue;
                        }
                    },
                };
                match received {
                    Ok(BusMessage::Event(event)) if event.seq <= self.last_seq => {}
                    Ok(BusMessage::Event(event)) if event.seq == self.last_seq + 1 => {
                        self.last_seq = event.seq;
                        if self.filter.matches(&event) {
                            yield event;
                        }
                    }
                    // Seq jumped: hold the event until the missing ones arrive or the wait
                    // ends; a gap wider than a page goes to the log at once.
                    Ok(BusMessage::Event(event)) => {
                        gap_deadline.get_or_insert_with(|| Instant::now() + REORDER_WAIT);
                        ahead.insert(event.seq, event);
                        if ahead.len() as u64 >= PAGE {
                            self.counters.gap_fills.inc();
                            catch_up = Some(release(&mut ahead));
                        }
                    }
                    Ok(BusMessage::Resync) => {
                        self.counters.gap_fills.inc();
                        ahead.clear();
                        catch_up = Some(None);
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(practice_id = %self.practice_id, missed, "subscriber lagged; catching up from the log");
                        self.counters.lag_catch_ups.inc();
                        ahead.clear();
                        catch_up = Some(None);
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        }
    }

    /// One page of the log after `last_seq` (up to `through`): advances `last_seq` and
    /// returns the events the filter wants, and whether more may follow.
    async fn next_page(&mut self, through: Option<i64>) -> AppResult<(Vec<Arc<StoredEvent>>, bool)> {
        let page = log::read_range(&self.db, &self.practice_id, self.last_seq, through, None, PAGE).await?;
        let more = page.len() as u64 == PAGE;
        let mut wanted = Vec::with_capacity(page.len());
        for event in page {
            self.last_seq = event.seq;
            if self.filter.matches(&event) {
                wanted.push(Arc::new(event));
            }
        }
        Ok((wanted, more))
    }
}

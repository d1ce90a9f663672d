//! Long polling's read of a practice's log: the events after a cursor that the caller may
//! see, or — when there are none yet — a wait on the practice's bus channel until one is
//! committed, the wait runs out, or the caller is stopped (drain, revocation). A waiting
//! poll reads the database only when the bus announces an event it may return (or says
//! it may have missed some), never on a timer.

use std::future::Future;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, sleep_until};

use super::{Services, event_log, validate};
use crate::auth::Principal;
use crate::error::AppResult;
use crate::events::{BusMessage, Cursor, FeedFilter, StoredEvent, start_seq};
use crate::vocab::EventType;

/// What a poll asks for (already parsed; `limit` and `wait` already within their bounds).
pub struct Poll<'a> {
    pub practice_id: &'a str,
    /// The cursor to continue after; None: from the log's head now.
    pub after: Option<&'a str>,
    pub types: Option<Vec<EventType>>,
    pub limit: u64,
    pub wait: Duration,
    /// With no cursor: the last `limit` events of the log rather than none (a topic's
    /// representation).
    pub recent: bool,
}

/// Why a poll answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// It has events.
    Events,
    /// Nothing arrived within the wait.
    Waited,
    /// The caller stopped it (the server drains, or the credentials ended).
    Stopped,
}

/// A poll's answer: the events, and the cursor the next poll continues after (the last
/// event's, or where this one started when it has none).
pub struct Polled {
    pub events: Vec<StoredEvent>,
    pub next: String,
    pub ended: Ended,
}

/// Answers `poll` for `who`: at once when events after its cursor exist, otherwise when the
/// first arrives, after `poll.wait`, or when `stop` resolves.
pub async fn poll(s: &Services, who: &Principal, poll: Poll<'_>, stop: impl Future<Output = ()>) -> AppResult<Polled> {
    let practice_id = validate::id("practiceId", poll.practice_id)?;
    who.read(practice_id, "practice")?;
    let cursor = poll.after.map(|c| Cursor::decode_for(c, practice_id)).transpose()?;
    // Subscribed before the log is read: whatever commits after the read is announced.
    let mut bus = s.bus.subscribe(practice_id).await;
    // The reads are boxed: their (large) futures would otherwise sit in every waiting
    // poll's state for as long as it waits.
    let head = Box::pin(start_seq(&s.db, practice_id, cursor)).await?;
    let after = if poll.recent && poll.after.is_none() { (head - poll.limit as i64).max(0) } else { head };
    let next = match poll.after {
        Some(given) => given.to_string(),
        None => Cursor { practice_id: practice_id.to_string(), seq: head }.encode(),
    };
    let wanted =
        FeedFilter { types: poll.types.clone(), provider_id: None, patient_id: who.patient_id().map(str::to_string) };
    let deadline = Instant::now() + poll.wait;
    tokio::pin!(stop);
    loop {
        let events =
            Box::pin(event_log::visible(s, who, practice_id, after, poll.types.as_deref(), poll.limit)).await?;
        if let Some(last) = events.last() {
            let next = last.cursor();
            return Ok(Polled { events, next, ended: Ended::Events });
        }
        // Wait for an event this caller may see (others are not worth a read).
        let ended = loop {
            tokio::select! {
                biased;
                () = &mut stop => break Some(Ended::Stopped),
                () = sleep_until(deadline) => break Some(Ended::Waited),
                received = bus.receiver.recv() => match received {
                    Ok(BusMessage::Event(event)) if event.seq > after && wanted.matches(&event) => break None,
                    Ok(BusMessage::Event(_)) => {}
                    // The bus may have dropped some: the log says.
                    Ok(BusMessage::Resync) | Err(RecvError::Lagged(_)) => break None,
                    // The bus is gone (the server stops): nothing more will be announced.
                    Err(RecvError::Closed) => break Some(Ended::Stopped),
                },
            }
        };
        if let Some(ended) = ended {
            return Ok(Polled { events: Vec::new(), next, ended });
        }
    }
}

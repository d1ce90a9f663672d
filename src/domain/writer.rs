//! Group commit: a few writers ("lanes") on each replica, every practice in one of them.
//! Mutations queue in their practice's lane and run one after another inside the lane's
//! open transaction, each in a savepoint of its own, so that one transaction and one
//! commit serve a whole batch — of one practice under load, or of many practices when
//! each has only a mutation now and then (a hundred practices at 20 mutations a second
//! would otherwise cost a hundred commits a second, each mutation alone in its batch).
//!
//! A lone mutation starts at once: a batch is what queued in the lane while the previous
//! one was committing (at most `MAX_BATCH`). Its first practice's counter row is locked
//! (waiting if need be) before the first mutation runs; the practices of the other
//! mutations already queued are locked in one statement that passes over rows another
//! transaction holds (`SKIP LOCKED`), so a lane waits only while it holds nothing and two
//! replicas never deadlock. A mutation whose practice the batch could not lock, and every
//! later one of that practice, waits for the next batch, where the first of them leads.
//! The locks are held to the commit, so across replicas a practice's commits stay in seq
//! order. A failing mutation rolls back to its savepoint alone; the others commit. Seqs
//! follow queue order. Events are written, counted and published by the lane, in seq
//! order, once the batch has committed (`super::batch`).

use sea_orm::{DatabaseConnection, DatabaseTransaction};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use super::Faults;
use crate::clock::SharedClock;
use crate::error::{AppError, AppResult};
use crate::events::{Counters, SharedBus, StoredEvent};

/// Writers (and so open write transactions) per replica. A practice always queues in the
/// same one, so its mutations keep their order; one practice at 2,000 payments/s is
/// served by one lane, as by one writer of its own before. Fewer lanes make larger
/// batches but serve one turn at a time each: at 100 practices × 20 mutations/s on two
/// cores, one lane fell behind, two committed ~7 mutations per batch and fell behind once
/// in five runs, four ~4 (p99 median 110 ms over eight runs, against 257 ms for a writer
/// per practice, ~2 per batch) (the benchmark log's "Issue 33: practices share a commit").
pub const LANES: usize = 4;
/// Mutations committed together at most. A batch answers when its last turn is done, so
/// its first mutation waits for all the others: 32 turns of two round trips keep that
/// near 10 ms, and a backlog after a hiccup drains in batches of 32. At 2,000 payments/s in
/// one practice, p99 was 37–53 ms with 32, 68–83 ms with 128, and 74–262 ms with 16, where
/// each batch's own round trips (begin, lock, append, commit) saturate the writer
/// (BENCHMARKS.md, "Writes at 2,000/s").
pub(super) const MAX_BATCH: usize = 32;
/// How long an idle lane stays before its task ends.
const LINGER: Duration = Duration::from_secs(2);

/// The lane of a practice (FNV-1a of its id): the same on every run and replica.
pub fn lane_of(practice_id: &str) -> usize {
    let hash =
        practice_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (hash % LANES as u64) as usize
}

/// A mutation's turn in a batch: the batch's transaction (in a savepoint of it for every
/// mutation after the first), and the seq its first event takes. Finished with
/// `Turn::keep` (committed with the batch) or dropped (rolled back by the lane, which
/// goes on with the next mutation).
pub struct Turn {
    // Declared first: dropped before `done`, so the lane finds itself the only holder.
    pub txn: Arc<DatabaseTransaction>,
    pub next_seq: i64,
    pub(super) done: oneshot::Sender<Kept>,
}

/// What a finished turn hands back: its events, and where to say how the batch ended.
pub(super) struct Kept {
    pub(super) events: Vec<StoredEvent>,
    pub(super) outcome: oneshot::Sender<Result<(), String>>,
}

impl Turn {
    /// Hands the events to the lane and waits for the batch's commit.
    pub async fn keep(self, events: Vec<StoredEvent>) -> AppResult<()> {
        let Turn { txn, done, .. } = self;
        drop(txn);
        let (outcome, committed) = oneshot::channel();
        done.send(Kept { events, outcome }).map_err(|_| gone())?;
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(AppError::Internal(anyhow::anyhow!("batch commit failed: {message}"))),
            Err(_) => Err(gone()),
        }
    }
}

pub(super) fn gone() -> AppError {
    AppError::Internal(anyhow::anyhow!("the practice's writer stopped"))
}

/// A mutation waiting for its turn: its practice, and where its turn goes.
pub(super) struct Join {
    pub(super) practice_id: String,
    pub(super) reply: oneshot::Sender<AppResult<Turn>>,
}

/// The lanes of this replica, each a task while it has mutations queued or in flight.
pub struct Writers {
    pub(super) db: DatabaseConnection,
    pub(super) bus: SharedBus,
    pub(super) faults: Arc<Faults>,
    pub(super) outbox: bool,
    pub(super) clock: SharedClock,
    pub(super) counters: Arc<Counters>,
    lanes: [Mutex<Option<mpsc::UnboundedSender<Join>>>; LANES],
}

impl Writers {
    pub fn new(
        db: DatabaseConnection,
        bus: SharedBus,
        faults: Arc<Faults>,
        outbox: bool,
        clock: SharedClock,
        counters: Arc<Counters>,
    ) -> Arc<Self> {
        let lanes = std::array::from_fn(|_| Mutex::default());
        Arc::new(Self { db, bus, faults, outbox, clock, counters, lanes })
    }

    /// Waits for this mutation's turn in the practice's lane.
    pub async fn turn(self: &Arc<Self>, practice_id: &str) -> AppResult<Turn> {
        let (reply, turn) = oneshot::channel();
        let join = Join { practice_id: practice_id.to_string(), reply };
        let lane = lane_of(practice_id);
        {
            let mut queue = self.lanes[lane].lock().unwrap_or_else(|p| p.into_inner());
            // Sent under the lane's lock: a lane's task only ends under it, with an empty
            // queue, so no mutation is ever queued to a task that ended.
            let unsent = match queue.as_ref() {
                Some(sender) => sender.send(join).err().map(|back| back.0),
                None => Some(join),
            };
            if let Some(join) = unsent {
                // No task (the lane was idle, or its task died in a panic): a new one.
                let (sender, joins) = mpsc::unbounded_channel();
                sender.send(join).map_err(|_| gone())?;
                tokio::spawn(self.clone().run(lane, joins));
                *queue = Some(sender);
            }
            self.counters.write_queue.inc();
        }
        turn.await.map_err(|_| gone())?
    }

    async fn run(self: Arc<Self>, lane: usize, mut joins: mpsc::UnboundedReceiver<Join>) {
        // Mutations whose practice the last batch could not lock, oldest first.
        let mut waiting = VecDeque::new();
        loop {
            let first = match waiting.pop_front() {
                Some(join) => join,
                None => match tokio::time::timeout(LINGER, joins.recv()).await {
                    Ok(Some(join)) => {
                        self.counters.write_queue.dec();
                        join
                    }
                    Ok(None) => return,
                    Err(_) => {
                        let mut queue = self.lanes[lane].lock().unwrap_or_else(|p| p.into_inner());
                        if joins.is_empty() {
                            *queue = None;
                            return;
                        }
                        continue;
                    }
                },
            };
            self.faults.batches_allowed().await;
            self.batch(first, &mut joins, &mut waiting).await;
        }
    }

    /// The next mutation queued in the lane, if one is there now: those the last batch
    /// passed over first.
    pub(super) fn next_queued(
        &self,
        joins: &mut mpsc::UnboundedReceiver<Join>,
        waiting: &mut VecDeque<Join>,
    ) -> Option<Join> {
        waiting.pop_front().or_else(|| {
            let join = joins.try_recv().ok()?;
            self.counters.write_queue.dec();
            Some(join)
        })
    }
}

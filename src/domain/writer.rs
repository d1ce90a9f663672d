//! Group commit: one writer per practice on each replica. Mutations of a practice queue
//! here and run one after another inside the writer's open transaction, each in a
//! savepoint of its own, so that one transaction, one lock of the practice's counter row
//! and one commit serve a whole batch.
//!
//! A lone mutation starts at once: a batch is whatever queued while the previous one
//! was committing (at most `MAX_BATCH`). The writer takes the counter row lock before the
//! first mutation runs and holds it to the commit, so across replicas commits of a
//! practice stay in seq order, and on this replica the writer is the lock's only holder.
//! A failing mutation rolls back to its savepoint alone; the others commit. Seqs follow
//! queue order. Every turn after the first runs under one savepoint name (`Savepoint`):
//! the release of one turn's savepoint and the opening of the next go in one round trip,
//! so a mutation of one statement costs the batch two round trips, not three. Events are
//! written, counted and published by the writer, in seq order, once the batch has
//! committed.

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QuerySelect, TransactionTrait};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::Faults;
use crate::clock::SharedClock;
use crate::db::entities::practice;
use crate::error::{AppError, AppResult};
use crate::events::{Counters, SharedBus, StoredEvent, log};

/// Mutations committed together at most. A batch answers when its last turn is done, so
/// its first mutation waits for all the others: 32 turns of two round trips keep that
/// near 10 ms, and a backlog after a hiccup drains in batches of 32. At 2,000 payments/s in
/// one practice, p99 was 37–53 ms with 32, 68–83 ms with 128, and 74–262 ms with 16, where
/// each batch's own round trips (begin, lock, append, commit) saturate the writer
/// (BENCHMARKS.md, "Writes at 2,000/s").
const MAX_BATCH: usize = 32;
/// How long an idle writer stays before its task ends.
const LINGER: Duration = Duration::from_secs(2);

/// A mutation's turn in a batch: the batch's transaction (in a savepoint of it for every
/// mutation after the first), and the seq its first event takes. Finished with
/// `Turn::keep` (committed with the batch) or dropped (rolled back by the writer, which
/// goes on with the next mutation).
pub struct Turn {
    // Declared first: dropped before `done`, so the writer finds itself the only holder.
    pub txn: Arc<DatabaseTransaction>,
    pub next_seq: i64,
    done: oneshot::Sender<Kept>,
}

/// What a finished turn hands back: its events, and where to say how the batch ended.
struct Kept {
    events: Vec<StoredEvent>,
    outcome: oneshot::Sender<Result<(), String>>,
}

/// Where the batch's savepoint stands. Turns after the first run under a savepoint named
/// `turn`: opened before the turn, released when the next opens (or by the commit), rolled
/// back to when the turn fails. A rolled-back savepoint stays open, ready for the next
/// turn. Postgres and SQLite both keep a savepoint after `ROLLBACK TO` and let a name be
/// reused, the newest shadowing the older.
#[derive(Clone, Copy)]
enum Savepoint {
    /// None open: the batch's first turn runs in the transaction itself.
    None,
    /// The last turn kept its work.
    Kept,
    /// The last turn failed; its work is still to be rolled back.
    Dropped,
}

impl Savepoint {
    /// What opens a fresh savepoint for the next turn, in one round trip.
    fn before_turn(self) -> &'static str {
        match self {
            Savepoint::None => "SAVEPOINT turn",
            Savepoint::Kept => "RELEASE SAVEPOINT turn; SAVEPOINT turn",
            Savepoint::Dropped => "ROLLBACK TO SAVEPOINT turn",
        }
    }
}

impl Turn {
    /// Hands the events to the writer and waits for the batch's commit.
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

fn gone() -> AppError {
    AppError::Internal(anyhow::anyhow!("the practice's writer stopped"))
}

type Join = oneshot::Sender<AppResult<Turn>>;

/// The writers of this replica, one per practice with mutations queued or in flight.
pub struct Writers {
    db: DatabaseConnection,
    bus: SharedBus,
    faults: Arc<Faults>,
    outbox: bool,
    clock: SharedClock,
    counters: Arc<Counters>,
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Join>>>,
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
        Arc::new(Self { db, bus, faults, outbox, clock, counters, queues: Mutex::default() })
    }

    /// Waits for this mutation's turn in the practice's writer.
    pub async fn turn(self: &Arc<Self>, practice_id: &str) -> AppResult<Turn> {
        let (join, turn) = oneshot::channel();
        {
            let start = || {
                let (queue, joins) = mpsc::unbounded_channel();
                tokio::spawn(self.clone().run(practice_id.to_string(), joins));
                queue
            };
            let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            let queue = queues.entry(practice_id.to_string()).or_insert_with(start);
            // Sent under the map's lock: a writer only leaves the map under it, with an
            // empty queue, so no mutation is ever queued to a writer that ended.
            if let Err(mpsc::error::SendError(join)) = queue.send(join) {
                // Its task died (a panic): a new writer takes over the practice.
                let fresh = start();
                fresh.send(join).map_err(|_| gone())?;
                queues.insert(practice_id.to_string(), fresh);
            }
            self.counters.write_queue.inc();
        }
        turn.await.map_err(|_| gone())?
    }

    async fn run(self: Arc<Self>, practice_id: String, mut joins: mpsc::UnboundedReceiver<Join>) {
        loop {
            let first = match tokio::time::timeout(LINGER, joins.recv()).await {
                Ok(Some(join)) => {
                    self.counters.write_queue.dec();
                    join
                }
                Ok(None) => return,
                Err(_) => {
                    let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
                    if joins.is_empty() {
                        queues.remove(&practice_id);
                        return;
                    }
                    continue;
                }
            };
            self.faults.batches_allowed().await;
            self.batch(&practice_id, first, &mut joins).await;
        }
    }

    /// One batch: begin, lock the counter row, give each queued mutation its turn, write
    /// the events and the counter, commit, answer, publish. The first mutation runs in
    /// the transaction itself (a batch of one costs no savepoint); if it fails, the
    /// transaction is rolled back and the next mutation opens another.
    async fn batch(&self, practice_id: &str, first: Join, joins: &mut mpsc::UnboundedReceiver<Join>) {
        let mut open: Option<Open> = None;
        let mut events = Vec::new();
        let mut kept = Vec::new();
        let mut join = Some(first);
        let mut turns = 0;
        while let Some(current) = join.take() {
            turns += 1;
            if let Err(err) = self.give_turn(practice_id, &mut open, current, &mut events, &mut kept).await {
                tracing::warn!(practice_id, error = %err, "the batch's transaction failed; it is rolled back");
                open = None;
                kept.clear();
                events.clear();
            }
            if turns < MAX_BATCH {
                join = joins.try_recv().ok();
                if join.is_some() {
                    self.counters.write_queue.dec();
                }
            }
        }
        let Some(Open { txn, savepoint, .. }) = open else { return };
        let span = commit_span(practice_id, kept.len(), &events);
        let committed = match Arc::try_unwrap(txn) {
            Ok(txn) => self.finish(txn, savepoint, practice_id, &events).instrument(span).await,
            Err(_) => Err(AppError::Internal(anyhow::anyhow!("a turn still holds the batch's transaction"))),
        };
        let answer = committed.as_ref().map(|_| ()).map_err(|e| e.to_string());
        let kept_count = kept.len() as u64;
        for outcome in kept {
            let _ = outcome.send(answer.clone());
        }
        if committed.is_err() {
            return;
        }
        self.counters.write_batches.inc();
        self.counters.batched_writes.inc_by(kept_count);
        self.counters.appended.inc_by(events.len() as u64);
        if !self.faults.skip_publish() {
            for event in events {
                self.bus.publish(Arc::new(event));
            }
        }
    }

    /// Begins the batch's transaction and takes the practice's counter row lock.
    async fn open(&self, practice_id: &str) -> AppResult<Open> {
        let txn = self.db.begin().await?;
        let last_seq = practice::Entity::find_by_id(practice_id)
            .select_only()
            .column(practice::Column::LastSeq)
            .lock_exclusive()
            .into_tuple::<i64>()
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound("practice"))?;
        Ok(Open { txn: Arc::new(txn), last_seq, savepoint: Savepoint::None })
    }

    /// Gives one queued mutation its turn (opening the batch's transaction if none is
    /// open) and waits until it keeps or drops it. Err only when the batch's transaction
    /// itself failed.
    async fn give_turn(
        &self,
        practice_id: &str,
        open: &mut Option<Open>,
        join: Join,
        events: &mut Vec<StoredEvent>,
        kept: &mut Vec<oneshot::Sender<Result<(), String>>>,
    ) -> AppResult<()> {
        if join.is_closed() {
            return Ok(());
        }
        let batch = match open {
            Some(opened) => opened,
            None => match self.open(practice_id).await {
                Ok(opened) => open.insert(opened),
                Err(err) => {
                    let _ = join.send(Err(err));
                    return Ok(());
                }
            },
        };
        let first = kept.is_empty();
        if !first {
            batch.txn.execute_unprepared(batch.savepoint.before_turn()).await?;
        }
        let next_seq = batch.last_seq + 1 + events.len() as i64;
        let (done, finished) = oneshot::channel();
        let turn = Turn { txn: batch.txn.clone(), next_seq, done };
        let outcome = match join.send(Ok(turn)) {
            Ok(()) => finished.await.ok(),
            Err(_) => None,
        };
        match (first, outcome) {
            (_, Some(done)) => {
                events.extend(done.events);
                kept.push(done.outcome);
                if !first {
                    batch.savepoint = Savepoint::Kept;
                }
            }
            (true, None) => {
                let Open { txn, .. } = open.take().expect("the batch is open");
                Arc::try_unwrap(txn).map_err(|_| held())?.rollback().await?;
            }
            (false, None) => batch.savepoint = Savepoint::Dropped,
        }
        Ok(())
    }

    /// Rolls back a failed last turn, writes the batch's events, their outbox rows and the
    /// practice's counter, and commits.
    async fn finish(
        &self,
        txn: DatabaseTransaction,
        savepoint: Savepoint,
        practice_id: &str,
        events: &[StoredEvent],
    ) -> AppResult<()> {
        if let Savepoint::Dropped = savepoint {
            txn.execute_unprepared(savepoint.before_turn()).await?;
        }
        let outbox_at = self.outbox.then(|| self.clock.now().timestamp_millis());
        log::append_batch(&txn, practice_id, events, outbox_at).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// A batch's open transaction: the practice's last seq when it began, and its savepoint.
struct Open {
    txn: Arc<DatabaseTransaction>,
    last_seq: i64,
    savepoint: Savepoint,
}

/// The span of a batch's commit, linked to the trace of each mutation in it (when traced).
fn commit_span(practice_id: &str, mutations: usize, events: &[StoredEvent]) -> tracing::Span {
    crate::telemetry::if_on(|| {
        let span = tracing::info_span!(
            parent: None,
            "commit_batch",
            clinicstream.practice_id = practice_id,
            clinicstream.mutations = mutations,
            clinicstream.events = events.len(),
        );
        let mut linked: Vec<&str> = Vec::new();
        for trace in events.iter().filter_map(|e| e.trace.as_ref()) {
            if !linked.contains(&trace.traceparent()) {
                linked.push(trace.traceparent());
                crate::telemetry::link(&span, Some(trace));
            }
        }
        span
    })
}

fn held() -> AppError {
    AppError::Internal(anyhow::anyhow!("a finished turn still holds its transaction"))
}

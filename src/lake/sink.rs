//! The lake sink (`LAKE_URL`): run by the server like a bridge. Per practice, one replica
//! holds the lease (`bridges::hold_leases` over `bridge_cursors`, under `lake/<url>`),
//! reads the log after the durable cursor, buffers up to `LAKE_FLUSH_ROWS` events or
//! `LAKE_FLUSH_INTERVAL`, writes them as files and only then moves the cursor. A replica
//! that died between a file and its cursor leaves the file; whoever takes the practice
//! over goes on after the files already there, so no row is written twice, and a batch
//! written again (after a failed write) has the same seq ranges, so the same names.

use std::sync::Arc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::destination::Destination;
use super::files::{Files, Written};
use super::settings::LakeArgs;
use crate::bridges::{BridgeArgs, BridgeMetrics, BridgeStatus, CursorStore, backoff, hold_leases};
use crate::domain::{Services, new_id};
use crate::events::{StoredEvent, log};
use crate::vocab::BridgeKind;

/// Events read from the log per round trip.
const PAGE: u64 = 5_000;

pub struct Sink {
    dest: Destination,
    store: CursorStore,
    status: Arc<BridgeStatus>,
    lake: LakeArgs,
    bridges: Arc<BridgeArgs>,
    services: Services,
}

impl Sink {
    /// The sink when `LAKE_URL` is set; a malformed setting is an error naming it.
    pub fn build(
        lake: &LakeArgs,
        bridges: &BridgeArgs,
        services: &Services,
        metrics: Arc<BridgeMetrics>,
    ) -> Result<Option<Arc<Self>>, String> {
        lake.validate()?;
        let Some(url) = &lake.url else { return Ok(None) };
        let dest = Destination::parse(url).map_err(|e| format!("LAKE_URL: {e}"))?;
        let status = Arc::new(BridgeStatus::new(BridgeKind::Lake, dest.shown.clone(), None, lake.payload, metrics));
        let store = CursorStore::new(services.db.clone(), format!("lake/{url}"), new_id("rep"));
        let (lake, bridges, services) = (lake.clone(), Arc::new(bridges.clone()), services.clone());
        Ok(Some(Arc::new(Self { dest, store, status, lake, bridges, services })))
    }

    pub fn status(&self) -> Arc<BridgeStatus> {
        self.status.clone()
    }

    /// Spawns the sink, if configured, unless `BRIDGE_WORKER=false`; it stops when
    /// `shutdown` is cancelled.
    pub fn start(sink: Option<Arc<Self>>, bridges: &BridgeArgs, shutdown: &CancellationToken, tracker: &TaskTracker) {
        if let Some(sink) = sink
            && bridges.worker
        {
            tracing::info!(destination = %sink.dest.shown, "starting the lake sink");
            tracker.spawn(sink.run(shutdown.clone()));
        }
    }

    /// Runs until `shutdown`, then gives the practices back. Buffered events not yet
    /// written are left to the next holder (they are in the log, after the cursor).
    #[tracing::instrument(skip_all, fields(lake = %self.dest.shown))]
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let now = || self.services.now_ms();
        let start = |practice, seq, stop| self.clone().write_practice(practice, seq, stop);
        hold_leases(&self.store, &self.status, self.bridges.lease, now, shutdown, start).await;
    }

    /// One practice from its cursor on, while this replica holds it.
    async fn write_practice(self: Arc<Self>, practice: String, cursor: i64, stop: CancellationToken) {
        let mut failures = 0u32;
        // Where the files reach (None until checked against the destination).
        let mut at: Option<i64> = None;
        let mut buffer: Vec<StoredEvent> = Vec::new();
        let mut oldest: Option<Instant> = None;
        let poll = self.bridges.poll.min(self.lake.flush_interval);
        while !stop.is_cancelled() {
            match self.step(&practice, cursor, &mut at, &mut buffer, &mut oldest).await {
                Ok(Step::Lost) => {
                    tracing::info!(practice = %practice, "another replica holds this practice now");
                    stop.cancel();
                    return;
                }
                Ok(Step::Wrote) => failures = 0,
                Ok(Step::Wait) => {
                    failures = 0;
                    let due = oldest.map_or(poll, |t| self.lake.flush_interval.saturating_sub(t.elapsed()));
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(poll.min(due)) => {}
                    }
                }
                Err(err) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(practice = %practice, error = %err, "the lake sink failed; retrying after a backoff");
                    }
                    self.status.failed(&err);
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff(failures, self.bridges.backoff_max)) => {}
                    }
                }
            }
        }
    }

    /// Reads what is new into the buffer and writes it when it is due.
    async fn step(
        &self,
        practice: &str,
        cursor: i64,
        at: &mut Option<i64>,
        buffer: &mut Vec<StoredEvent>,
        oldest: &mut Option<Instant>,
    ) -> Result<Step, String> {
        let written_through = match *at {
            Some(seq) => seq,
            None => {
                let reach = self.dest.covered(practice, cursor).await?;
                self.status.connected();
                if reach > cursor {
                    tracing::info!(practice, cursor, reach, "files past the cursor are already in the lake");
                    if !self.advance(practice, reach).await? {
                        return Ok(Step::Lost);
                    }
                }
                *at = Some(reach);
                reach
            }
        };
        let room = self.lake.flush_rows.saturating_sub(buffer.len() as u64);
        if room > 0 {
            let after = buffer.last().map_or(written_through, |e| e.seq);
            let page = log::read_range(&self.services.db, practice, after, None, None, room.min(PAGE))
                .await
                .map_err(|e| format!("could not read practice {practice}'s log: {e}"))?;
            if !page.is_empty() && buffer.is_empty() {
                *oldest = Some(Instant::now());
            }
            buffer.extend(page);
        }
        let full = buffer.len() as u64 >= self.lake.flush_rows;
        let due = oldest.is_some_and(|t| t.elapsed() >= self.lake.flush_interval);
        if buffer.is_empty() || !(full || due) {
            return Ok(if room > 0 { Step::Wait } else { Step::Wrote });
        }
        let written = self.write(practice, buffer).await?;
        let last = buffer.last().map_or(written_through, |e| e.seq);
        let now = self.services.now_ms();
        self.status.acked(buffer.iter().map(|e| now - e.occurred_at.timestamp_millis()));
        tracing::debug!(practice, files = written.len(), last, "lake files written");
        buffer.clear();
        *oldest = None;
        *at = Some(last);
        Ok(if self.advance(practice, last).await? { Step::Wrote } else { Step::Lost })
    }

    /// The buffered events as files; the same buffer always gives the same files.
    async fn write(&self, practice: &str, buffer: &[StoredEvent]) -> Result<Vec<Written>, String> {
        let mut files = Files::new(&self.dest, practice, self.lake.payload, self.lake.flush_rows);
        let mut written = files.add(buffer).await?;
        written.extend(files.finish().await?);
        self.status.connected();
        Ok(written)
    }

    /// False: the lease was lost.
    async fn advance(&self, practice: &str, seq: i64) -> Result<bool, String> {
        self.store.advance(practice, seq, self.services.now_ms()).await.map_err(|e| e.to_string())
    }
}

/// What one step did.
enum Step {
    /// Nothing due: wait for the poll or the flush interval.
    Wait,
    /// Wrote files (or the buffer is full): go on at once.
    Wrote,
    /// Another replica holds the practice now.
    Lost,
}

//! `clinicstream export`: each practice's log from where the last run stopped (its
//! `--after` cursor, the state file, or the files already at the destination, whichever
//! reaches furthest) up to the head it had when the run began, as Parquet files. Every
//! input is checked before the first file is written; the state is recorded after each
//! file, and a run killed between a file and its record goes on after that file.

use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use std::collections::BTreeMap;

use super::destination::Destination;
use super::files::{Files, Written};
use super::settings::{ExportArgs, MAX_FILE_ROWS};
use super::state::State;
use crate::db::entities::practice;
use crate::events::{Cursor, log};

/// Events read from the log per round trip.
const PAGE: u64 = 10_000;

/// What one run wrote.
#[derive(Debug, Default)]
pub struct Summary {
    pub practices: usize,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
}

/// The checked inputs: where to start each practice.
struct Plan {
    dest: Destination,
    practices: Vec<String>,
    after: BTreeMap<String, i64>,
    state: Option<(std::path::PathBuf, State)>,
}

async fn plan(args: &ExportArgs, db: &DatabaseConnection) -> Result<Plan, String> {
    if args.file_rows == 0 || args.file_rows > MAX_FILE_ROWS {
        return Err(format!("--file-rows must be between 1 and {MAX_FILE_ROWS}"));
    }
    let mut after = BTreeMap::new();
    for text in &args.after {
        let cursor = Cursor::decode(text).map_err(|_| format!("--after {text:?} is not an event cursor"))?;
        if !args.practices.is_empty() && !args.practices.contains(&cursor.practice_id) {
            return Err(format!(
                "--after {text} is a cursor of practice {}, which no --practice names",
                cursor.practice_id
            ));
        }
        if after.insert(cursor.practice_id.clone(), cursor.seq).is_some() {
            return Err(format!("two --after cursors of practice {}", cursor.practice_id));
        }
    }
    let state = match &args.state {
        Some(path) => Some((path.clone(), State::load(path, &args.to)?)),
        None => None,
    };
    let known: Vec<practice::Model> = practice::Entity::find()
        .order_by_asc(practice::Column::Id)
        .all(db)
        .await
        .map_err(|e| format!("could not read the practices: {e}"))?;
    let heads: BTreeMap<&str, i64> = known.iter().map(|p| (p.id.as_str(), p.last_seq)).collect();
    let practices: Vec<String> = match args.practices.is_empty() {
        true => known.iter().map(|p| p.id.clone()).collect(),
        false => args.practices.clone(),
    };
    for practice in practices.iter().chain(after.keys()) {
        if !heads.contains_key(practice.as_str()) {
            return Err(format!("there is no practice {practice}"));
        }
    }
    for (practice, seq) in &after {
        if *seq > heads[practice.as_str()] {
            return Err(format!("--after: the cursor of practice {practice} is ahead of its log"));
        }
    }
    let dest = Destination::parse(&args.to)?;
    Ok(Plan { dest, practices, after, state })
}

/// Runs the export; an error says what was wrong before anything was written, or which
/// file could not be (the files before it stay, and are recorded).
pub async fn export(args: &ExportArgs, db: &DatabaseConnection) -> Result<Summary, String> {
    let Plan { dest, practices, after, mut state } = plan(args, db).await?;
    let mut summary = Summary::default();
    for practice in &practices {
        let from = match after.get(practice) {
            Some(seq) => *seq,
            None => state.as_ref().map_or(0, |(_, s)| s.seq(practice)),
        };
        let mut record = |seq: i64| -> Result<(), String> {
            match &mut state {
                Some((path, s)) if s.seq(practice) != seq => {
                    s.record(practice, seq);
                    s.save(path)
                }
                _ => Ok(()),
            }
        };
        let (written, through) = export_practice(&dest, db, practice, from, args, &mut record).await?;
        record(through)?;
        summary.practices += 1;
        summary.files += written.len();
        summary.rows += written.iter().map(|w| w.rows).sum::<u64>();
        summary.bytes += written.iter().map(|w| w.bytes).sum::<u64>();
        tracing::info!(practice, files = written.len(), through, "exported");
    }
    Ok(summary)
}

/// One practice after `from`, up to its head now; `record(seq)` after each file.
async fn export_practice(
    dest: &Destination,
    db: &DatabaseConnection,
    practice: &str,
    from: i64,
    args: &ExportArgs,
    record: &mut impl FnMut(i64) -> Result<(), String>,
) -> Result<(Vec<Written>, i64), String> {
    let read_failed = |e: crate::error::AppError| format!("could not read practice {practice}'s log: {e}");
    let head = log::head(db, practice).await.map_err(read_failed)?.unwrap_or(0);
    let mut at = dest.covered(practice, from).await?;
    if at > from {
        tracing::info!(practice, from, through = at, "already in the lake; going on after it");
    }
    let first = log::first_seq(db, practice).await.map_err(read_failed)?.unwrap_or(head + 1);
    if first > at + 1 && at < head {
        tracing::warn!(
            practice,
            from = at + 1,
            to = first - 1,
            "events were pruned from the log (EVENT_RETENTION) before they were exported"
        );
        at = first - 1;
    }
    let mut files = Files::new(dest, practice, args.payload, args.file_rows);
    let mut written = Vec::new();
    while at < head {
        let page = log::read_range(db, practice, at, Some(head), None, PAGE).await.map_err(read_failed)?;
        let Some(last) = page.last() else { break };
        at = last.seq;
        for file in files.add(&page).await? {
            record(file.part.last)?;
            written.push(file);
        }
    }
    if let Some(file) = files.finish().await? {
        record(file.part.last)?;
        written.push(file);
    }
    Ok((written, at))
}

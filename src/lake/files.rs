//! Laying one practice's events (in seq order, without a gap) out as files: a file ends
//! at a UTC day or at its row limit, is encoded as it fills (one row group in memory at
//! most) and is written whole when it ends.

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;

use super::columns::{ROW_GROUP, batch, day, writer};
use super::destination::{Destination, Part};
use crate::bridges::PayloadMode;
use crate::events::StoredEvent;

/// The file being filled.
struct Open {
    day: String,
    part: Part,
    rows: u64,
    writer: ArrowWriter<Vec<u8>>,
}

pub struct Files<'a> {
    dest: &'a Destination,
    practice_id: &'a str,
    mode: PayloadMode,
    max_rows: u64,
    open: Option<Open>,
}

/// A file written: its seq range and its size.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub part: Part,
    pub rows: u64,
    pub bytes: u64,
}

impl<'a> Files<'a> {
    pub fn new(dest: &'a Destination, practice_id: &'a str, mode: PayloadMode, max_rows: u64) -> Self {
        Self { dest, practice_id, mode, max_rows: max_rows.max(1), open: None }
    }

    /// Adds events that follow the last one added; writes each file that ends.
    pub async fn add(&mut self, events: &[StoredEvent]) -> Result<Vec<Written>, String> {
        let mut written = Vec::new();
        let mut rest = events;
        while let Some(first) = rest.first() {
            let today = day(first);
            if let Some(open) = &self.open
                && (open.day != today || open.rows >= self.max_rows)
            {
                written.extend(self.finish().await?);
            }
            let room = match &self.open {
                Some(open) => self.max_rows - open.rows,
                None => self.max_rows,
            };
            let same_day = rest.iter().take_while(|e| day(e) == today).count();
            let take = same_day.min(room as usize).min(ROW_GROUP);
            let (run, after) = rest.split_at(take);
            let open = match &mut self.open {
                Some(open) => open,
                None => self.open.insert(Open {
                    day: today,
                    part: Part { first: first.seq, last: first.seq },
                    rows: 0,
                    writer: writer()?,
                }),
            };
            let columns: RecordBatch = batch(run, self.mode)?;
            open.writer.write(&columns).map_err(|e| format!("could not write Parquet: {e}"))?;
            open.rows += run.len() as u64;
            open.part.last = run.last().map_or(open.part.last, |e| e.seq);
            rest = after;
        }
        Ok(written)
    }

    /// Writes the file being filled, if any.
    pub async fn finish(&mut self) -> Result<Option<Written>, String> {
        let Some(open) = self.open.take() else { return Ok(None) };
        let bytes = open.writer.into_inner().map_err(|e| format!("could not write Parquet: {e}"))?;
        let size = bytes.len() as u64;
        self.dest.put(&self.dest.file(self.practice_id, &open.day, open.part), bytes).await?;
        Ok(Some(Written { part: open.part, rows: open.rows, bytes: size }))
    }
}

//! The export's state file: the destination it belongs to and each practice's last
//! exported cursor. Read and checked whole before anything is written; rewritten after
//! every file by writing a sibling and renaming it over, so a killed run leaves either
//! the old state or the new one, never half of one.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::events::Cursor;

/// A state file larger than this is not one of ours.
const MAX_STATE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The `--to` of the runs that wrote it: another destination starts from its own files.
    pub to: String,
    /// Practice id → the cursor of the last event exported.
    pub practices: BTreeMap<String, String>,
}

impl State {
    /// The state at `path` (empty if the file does not exist yet), checked: it must be of
    /// the destination `to`, and each cursor must be its practice's.
    pub fn load(path: &Path, to: &str) -> Result<Self, String> {
        let shown = path.display();
        let text = match std::fs::metadata(path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State { to: to.to_string(), practices: BTreeMap::new() });
            }
            Err(err) => return Err(format!("cannot read the state file {shown}: {err}")),
            Ok(meta) if meta.len() > MAX_STATE_BYTES => {
                return Err(format!("the state file {shown} is larger than {MAX_STATE_BYTES} bytes"));
            }
            Ok(_) => std::fs::read_to_string(path).map_err(|e| format!("cannot read the state file {shown}: {e}"))?,
        };
        let state: State =
            serde_json::from_str(&text).map_err(|e| format!("the state file {shown} is not an export state: {e}"))?;
        if state.to != to {
            return Err(format!(
                "the state file {shown} belongs to an export to {}, not {to}; use another state file",
                state.to
            ));
        }
        for (practice, cursor) in &state.practices {
            Cursor::decode_for(cursor, practice)
                .map_err(|e| format!("the state file {shown}: practice {practice}'s cursor: {e}"))?;
        }
        Ok(state)
    }

    /// The practice's last exported seq (0: none yet).
    pub fn seq(&self, practice_id: &str) -> i64 {
        self.practices.get(practice_id).and_then(|c| Cursor::decode(c).ok()).map_or(0, |c| c.seq)
    }

    pub fn record(&mut self, practice_id: &str, seq: i64) {
        let cursor = Cursor { practice_id: practice_id.to_string(), seq }.encode();
        self.practices.insert(practice_id.to_string(), cursor);
    }

    /// Writes the state atomically (a sibling file, synced, renamed over).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        use std::io::Write;
        let mut staged = PathBuf::from(path);
        staged.as_mut_os_string().push(".tmp");
        let failed = |e: std::io::Error| format!("cannot write the state file {}: {e}", path.display());
        let mut file = std::fs::File::create(&staged).map_err(failed)?;
        file.write_all(serde_json::to_string_pretty(self).map_err(|e| e.to_string())?.as_bytes()).map_err(failed)?;
        file.sync_all().map_err(failed)?;
        std::fs::rename(&staged, path).map_err(failed)
    }
}

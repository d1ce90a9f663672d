//! Event cursors: opaque to clients, a practice id and a seq inside.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::error::{AppError, AppResult};

/// The longest cursor we bother decoding; anything longer is not one of ours.
const MAX_CURSOR_LEN: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub practice_id: String,
    pub seq: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("ev1:{}:{}", self.practice_id, self.seq))
    }

    pub fn decode(text: &str) -> AppResult<Self> {
        let invalid = || AppError::bad_input("invalid cursor");
        if text.len() > MAX_CURSOR_LEN {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let rest = text.strip_prefix("ev1:").ok_or_else(invalid)?;
        let (practice_id, seq) = rest.rsplit_once(':').ok_or_else(invalid)?;
        let seq: i64 = seq.parse().map_err(|_| invalid())?;
        // A practice id with a control character was never ours (and NUL cannot reach SQL).
        if practice_id.is_empty() || practice_id.chars().any(char::is_control) || seq < 0 {
            return Err(invalid());
        }
        Ok(Self { practice_id: practice_id.to_string(), seq })
    }

    /// Decodes a cursor and checks it belongs to `practice_id`.
    pub fn decode_for(text: &str, practice_id: &str) -> AppResult<Self> {
        let cursor = Self::decode(text)?;
        if cursor.practice_id != practice_id {
            return Err(AppError::bad_input("cursor belongs to another practice"));
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips() {
        let c = Cursor { practice_id: "prc_1:x".into(), seq: 42 };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn garbage_is_rejected_as_bad_input() {
        for bad in ["", "!!", "ZXYx", &"a".repeat(1000), &URL_SAFE_NO_PAD.encode("ev1:p:-1")] {
            assert!(matches!(Cursor::decode(bad), Err(AppError::BadInput(_))), "{bad}");
        }
    }
}

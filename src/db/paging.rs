//! Keyset pagination for Relay connections: opaque cursors over a stable sort key.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::error::{AppError, AppResult};

/// One page of a list: each item with its cursor, and whether more follow.
pub struct Page<T> {
    pub items: Vec<(String, T)>,
    pub has_next: bool,
    pub has_previous: bool,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows (the extra row only says "more").
    pub fn from_rows<R>(mut rows: Vec<R>, limit: u64, had_after: bool, convert: impl Fn(R) -> (String, T)) -> Self {
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        Self { items: rows.into_iter().map(convert).collect(), has_next, has_previous: had_after }
    }

    pub fn map<U>(self, f: impl Fn(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(|(cursor, item)| (cursor, f(item))).collect(),
            has_next: self.has_next,
            has_previous: self.has_previous,
        }
    }
}

/// Encodes a sort key as an opaque cursor.
pub fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// Decodes a cursor made by `encode`.
pub fn decode(cursor: &str) -> AppResult<String> {
    let invalid = || AppError::bad_input("after: invalid cursor");
    if cursor.len() > 256 {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let key = String::from_utf8(bytes).map_err(|_| invalid())?;
    // Our keys are ids and numbers: a control character (NUL, which Postgres text cannot
    // hold, above all) means the cursor was made elsewhere.
    if key.chars().any(char::is_control) {
        return Err(invalid());
    }
    Ok(key)
}

/// A cursor over `(number, id)` keys, such as `(startsAt, id)`.
pub fn decode_pair(cursor: &str) -> AppResult<(i64, String)> {
    let key = decode(cursor)?;
    key.split_once(':')
        .and_then(|(n, id)| Some((n.parse().ok()?, id.to_string())))
        .ok_or_else(|| AppError::bad_input("after: invalid cursor"))
}

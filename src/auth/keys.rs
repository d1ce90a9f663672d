//! API key material. Keys are 256 random bits, so a plain SHA-256 is a sound storage hash:
//! there is nothing to brute-force, unlike a password, and lookups stay one indexed read.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Grant, Principal};
use crate::db::entities::api_key;
use crate::error::{AppError, AppResult};
use crate::vocab::Role;

/// Every key starts with this, so a leaked key is recognisable (e.g. by secret scanners).
pub const KEY_PREFIX: &str = "cs_";
/// How many leading characters are kept in clear to tell keys apart.
const SHOWN_CHARS: usize = 10;

pub struct KeyMaterial {
    /// The plaintext key, shown to its owner once.
    pub key: String,
    /// What is stored: the hex SHA-256 of the key.
    pub hash: String,
    /// The visible start of the key.
    pub prefix: String,
}

pub fn new_key() -> KeyMaterial {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    KeyMaterial { hash: hash_key(&key), prefix: key[..SHOWN_CHARS].to_string(), key }
}

pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash a presented key is looked up by; a key of no plausible length is refused
/// before any work is spent on it.
pub(super) fn presented_hash(presented: &str) -> AppResult<String> {
    if presented.is_empty() || presented.len() > 256 {
        return Err(AppError::Unauthenticated);
    }
    Ok(hash_key(presented))
}

/// The principal of a key by its hash, and when the key expires.
pub(super) async fn lookup(
    db: &DatabaseConnection,
    admin_key_hash: Option<&str>,
    hash: &str,
    now_ms: i64,
) -> AppResult<(Principal, Option<i64>)> {
    if let Some(admin) = admin_key_hash
        && bool::from(admin.as_bytes().ct_eq(hash.as_bytes()))
    {
        return Ok((Principal::bootstrap(), None));
    }
    // The lookup is by hash, so its timing reveals nothing about the key itself.
    let row = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash))
        .one(db)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now_ms) {
        return Err(AppError::Unauthenticated);
    }
    let role = Role::parse(&row.role).ok_or(AppError::Unauthenticated)?;
    let principal = match (role, row.practice_id) {
        (Role::Admin, None) => Principal::key(row.id, Grant::Admin),
        // No key is a patient's: PATIENT is granted by a person's token only.
        (Role::Patient, _) | (_, None) => return Err(AppError::Unauthenticated),
        (role, Some(practice_id)) => Principal::key(row.id, Grant::Practice { practice_id, role }),
    };
    Ok((principal, row.expires_at))
}

/// Parses an `Authorization` value: `Bearer <key>` (the scheme is case-insensitive).
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

//! The caller of an operation and what it may touch.

use crate::error::{AppError, AppResult};
use crate::vocab::Role;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The bootstrap `ADMIN_KEY` (no id) or a global ADMIN key: everything, every practice.
    Admin { key_id: Option<String> },
    /// A key scoped to one practice.
    Scoped { key_id: String, role: Role, practice_id: String },
}

/// The credentials of a request or connection: None when no valid key was presented.
#[derive(Clone, Debug, Default)]
pub struct Auth(pub Option<Principal>);

impl Auth {
    pub fn principal(&self) -> AppResult<&Principal> {
        self.0.as_ref().ok_or(AppError::Unauthenticated)
    }
}

impl Principal {
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Principal::Admin { key_id } => key_id.as_deref(),
            Principal::Scoped { key_id, .. } => Some(key_id),
        }
    }

    /// The name the bootstrap `ADMIN_KEY` is counted and limited under.
    pub const BOOTSTRAP: &'static str = "bootstrap-admin";

    /// What rate limits and connection counts are kept per: the key's id.
    pub fn limit_key(&self) -> &str {
        self.key_id().unwrap_or(Self::BOOTSTRAP)
    }

    /// The practice the caller is confined to, if any.
    pub fn practice_id(&self) -> Option<&str> {
        match self {
            Principal::Admin { .. } => None,
            Principal::Scoped { practice_id, .. } => Some(practice_id),
        }
    }

    /// Where idempotency keys are unique: per practice (like Stripe's per account), or
    /// global for the all-practice admin.
    pub fn idempotency_scope(&self) -> String {
        self.practice_id().map_or_else(|| "global".to_string(), |p| format!("practice:{p}"))
    }

    /// Reading a resource of `practice_id`: another practice's resources do not exist for
    /// this caller (NOT_FOUND, never FORBIDDEN, so existence is not revealed).
    pub fn read(&self, practice_id: &str, what: &'static str) -> AppResult<()> {
        match self.practice_id() {
            Some(own) if own != practice_id => Err(AppError::NotFound(what)),
            _ => Ok(()),
        }
    }

    /// Changing anything: SUBSCRIBER keys are read-only.
    pub fn require_writer(&self) -> AppResult<()> {
        match self {
            Principal::Scoped { role: Role::Subscriber, .. } => {
                Err(AppError::forbidden("this API key may not run mutations (role SUBSCRIBER)"))
            }
            _ => Ok(()),
        }
    }

    /// Changing a resource of `practice_id`.
    pub fn write(&self, practice_id: &str, what: &'static str) -> AppResult<()> {
        self.require_writer()?;
        self.read(practice_id, what)
    }

    /// Administering a practice (its API keys), or everything when `practice_id` is None.
    pub fn require_admin(&self, practice_id: Option<&str>) -> AppResult<()> {
        match (self, practice_id) {
            (Principal::Admin { .. }, _) => Ok(()),
            (Principal::Scoped { role: Role::Admin, practice_id: own, .. }, Some(p)) if own == p => Ok(()),
            (Principal::Scoped { practice_id: own, .. }, Some(p)) if own != p => Err(AppError::NotFound("practice")),
            _ => Err(AppError::forbidden("this operation needs an ADMIN key")),
        }
    }
}

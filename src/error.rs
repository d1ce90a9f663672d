//! The one error type of the service: each variant is an outcome a client can be told about.

use thiserror::Error;

/// What went wrong, in the words a client gets. Mapped to `extensions.code` in
/// `graphql::errors` and nowhere else.
#[derive(Debug, Error)]
pub enum AppError {
    /// The input is malformed or breaks a rule (names, emails, amounts, ranges, cursors).
    #[error("{0}")]
    BadInput(String),
    /// No credentials, or credentials that are unknown, revoked or expired.
    #[error("a valid API key is required")]
    Unauthenticated,
    /// The caller is known but its role does not allow this operation.
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist, or belongs to a practice the caller cannot see.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request collides with existing state (double booking, idempotency key reuse).
    #[error("{0}")]
    Conflict(String),
    /// The cursor points before what the log still retains.
    #[error("{0}")]
    CursorExpired(String),
    /// A practice's quota refuses this: which quota, its limit, and in how many seconds
    /// trying again can succeed (0: not by waiting; the quota must change).
    #[error("the practice's {quota} quota ({limit}) is used up")]
    QuotaExceeded { quota: &'static str, limit: i64, retry_after: u64 },
    /// Anything the client cannot fix; details are logged, never returned.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadInput(message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    /// The `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadInput(_) => "BAD_USER_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::CursorExpired(_) => "CURSOR_EXPIRED",
            Self::QuotaExceeded { .. } => "QUOTA_EXCEEDED",
            Self::Internal(_) => "INTERNAL",
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Internal(err.into())
    }
}

impl From<serde_json::Error> for AppError {
    fn from(err: serde_json::Error) -> Self {
        Self::Internal(err.into())
    }
}

pub type AppResult<T> = Result<T, AppError>;

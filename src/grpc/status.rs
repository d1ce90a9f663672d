//! The one place the gRPC door turns a refusal into a status: the domain's errors, the
//! rate limit's and the GraphQL errors of a subscription the hub ran, each to the code
//! `proto/clinicstream/v1/events.proto` documents, with plain words (never internals).

use tonic::{Code, Status};

use crate::error::AppError;

/// A domain error as a status.
pub(super) fn of(err: &AppError) -> Status {
    match err {
        AppError::BadInput(message) => Status::invalid_argument(message.clone()),
        AppError::Unauthenticated => unauthenticated(),
        AppError::Forbidden(message) => Status::permission_denied(message.clone()),
        AppError::NotFound(what) => Status::not_found(format!("{what} not found")),
        AppError::Conflict(message) => Status::failed_precondition(message.clone()),
        AppError::CursorExpired(message) => expired(message),
        AppError::QuotaExceeded { .. } => Status::resource_exhausted(format!("QUOTA_EXCEEDED: {err}")),
        AppError::Internal(source) => {
            tracing::error!(error = %source, "grpc subscribe failed");
            Status::internal("internal error")
        }
    }
}

/// A GraphQL error code (`extensions.code`) with its message, as a status.
pub(super) fn of_code(code: &str, message: &str) -> Status {
    let code = match code {
        "BAD_USER_INPUT" => Code::InvalidArgument,
        "UNAUTHENTICATED" => Code::Unauthenticated,
        "FORBIDDEN" => Code::PermissionDenied,
        "NOT_FOUND" => Code::NotFound,
        "CURSOR_EXPIRED" => return expired(message),
        "RATE_LIMITED" | "QUOTA_EXCEEDED" => Code::ResourceExhausted,
        "CONFLICT" => Code::FailedPrecondition,
        _ => Code::Internal,
    };
    Status::new(code, message.to_string())
}

pub(super) fn unauthenticated() -> Status {
    Status::unauthenticated("a valid API key or access token is required: metadata `authorization: Bearer <key>`")
}

/// An expired cursor: OUT_OF_RANGE, and the message says so.
fn expired(message: &str) -> Status {
    Status::out_of_range(format!(
        "CURSOR_EXPIRED: the cursor has expired ({message}); resume from a newer cursor, or without `after` to start from now"
    ))
}

pub(super) fn rate_limited(refused: crate::limits::Refused) -> Status {
    Status::resource_exhausted(format!(
        "RATE_LIMITED: too many requests for this API key; retry in {} ms",
        refused.retry_after.as_millis().max(1)
    ))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_code_and_internals_stay_inside() {
        assert_eq!(of(&AppError::bad_input("bad cursor")).code(), Code::InvalidArgument);
        assert_eq!(of(&AppError::Unauthenticated).code(), Code::Unauthenticated);
        assert_eq!(of(&AppError::Forbidden("no".into())).code(), Code::PermissionDenied);
        assert_eq!(of(&AppError::NotFound("practice")).message(), "practice not found");
        let expired = of(&AppError::CursorExpired("the oldest available seq is 7".into()));
        assert_eq!(expired.code(), Code::OutOfRange);
        assert!(expired.message().starts_with("CURSOR_EXPIRED: the cursor has expired"), "{}", expired.message());
        let internal = of(&AppError::Internal(anyhow::anyhow!("SELECT * FROM secrets")));
        assert_eq!((internal.code(), internal.message()), (Code::Internal, "internal error"));
    }

    #[test]
    fn graphql_codes_map_to_the_same_statuses() {
        for (code, status) in [
            ("BAD_USER_INPUT", Code::InvalidArgument),
            ("UNAUTHENTICATED", Code::Unauthenticated),
            ("FORBIDDEN", Code::PermissionDenied),
            ("NOT_FOUND", Code::NotFound),
            ("CURSOR_EXPIRED", Code::OutOfRange),
            ("RATE_LIMITED", Code::ResourceExhausted),
            ("QUOTA_EXCEEDED", Code::ResourceExhausted),
            ("SOMETHING_NEW", Code::Internal),
        ] {
            assert_eq!(of_code(code, "m").code(), status, "{code}");
        }
    }
}

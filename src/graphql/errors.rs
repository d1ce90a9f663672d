//! Where errors get their `extensions.code`, the one edge between `AppError` and GraphQL.
//! Internal errors are logged here with a correlation id, which is all the client sees.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe};
use async_graphql::{ErrorExtensions, Response, ServerError, Value};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::sync::Arc;

use crate::error::AppError;

pub type GqlResult<T> = async_graphql::Result<T>;

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        let mut error = async_graphql::Error::new(self.to_string());
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", self.code());
        if let AppError::QuotaExceeded { quota, limit, retry_after } = self {
            extensions.set("quota", *quota);
            extensions.set("limit", *limit);
            extensions.set("retryAfter", *retry_after);
        }
        if let AppError::Internal(source) = self {
            let correlation_id = uuid::Uuid::now_v7().to_string();
            tracing::error!(%correlation_id, error = ?source, "internal error");
            extensions.set("correlationId", correlation_id);
        }
        error.extensions = Some(extensions);
        error
    }
}

/// Turns a domain result into a GraphQL one, keeping the error's code.
pub trait IntoGql<T> {
    fn gql(self) -> GqlResult<T>;
}

impl<T> IntoGql<T> for Result<T, AppError> {
    fn gql(self) -> GqlResult<T> {
        self.map_err(|e| e.extend())
    }
}

/// Gives every error that has no code one: errors raised by the GraphQL engine itself
/// (syntax, validation, argument coercion, limits) are all the client's input.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

fn fill_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        fill_code(error);
    }
    response
}

pub fn fill_code(error: &mut ServerError) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", Value::from("BAD_USER_INPUT"));
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        fill_codes(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(fill_codes).boxed()
    }
}

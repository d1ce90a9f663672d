//! What a resolver needs from its context: the services and the caller.

use async_graphql::Context;

use super::errors::{GqlResult, IntoGql};
use crate::auth::{Auth, Principal};
use crate::domain::Services;
use crate::error::AppError;

/// The services and the authenticated caller, or UNAUTHENTICATED.
pub fn caller<'a>(ctx: &Context<'a>) -> GqlResult<(&'a Services, &'a Principal)> {
    let services = ctx.data::<Services>()?;
    let principal = ctx.data_opt::<Auth>().ok_or(AppError::Unauthenticated).and_then(|auth| auth.principal()).gql()?;
    Ok((services, principal))
}

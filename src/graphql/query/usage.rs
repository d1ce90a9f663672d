//! A practice's usage and its access audit trail (the practice's ADMIN keys, or a global
//! ADMIN).

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::audit::{AuditEntry, Criteria};
use crate::error::AppError;
use crate::graphql::connection::connection;
use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::usage::{MAX_RANGE_DAYS, Report};

#[derive(Default)]
pub struct UsageQuery;

/// An id argument: plain text (letters, digits, `-`, `_`, `:` and the `extra`
/// characters), at most 100 characters.
fn plain_id(name: &str, id: &str, extra: &[char]) -> Result<(), AppError> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':') || extra.contains(&c));
    if ok { Ok(()) } else { Err(AppError::bad_input(format!("{name}: not a valid id"))) }
}

/// What a usage key may hold beyond plain ids: people's tokens count under
/// `client:<client id>`, and issuers' client ids have dots, `@` and `/`
/// (`1234-abc.apps.googleusercontent.com`, `https://app.example/`).
const CLIENT_ID_CHARS: &[char] = &['.', '@', '/'];

/// The longest subject an issuer may give (OpenID Connect Core: at most 255 ASCII
/// characters), and the most the identity module accepts in a token.
const MAX_SUBJECT: usize = 255;

/// A subject argument: what a token's `sub` may be — not empty, at most 255 bytes, no
/// control characters. Compared exactly, never as a pattern.
fn subject(value: &str) -> Result<(), AppError> {
    let ok = !value.is_empty() && value.len() <= MAX_SUBJECT && !value.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_input(format!(
            "subject: not a valid subject (1 to {MAX_SUBJECT} bytes, no control characters)"
        )))
    }
}

#[Object]
impl UsageQuery {
    /// The practice's usage in the UTC hours from the one `from` falls in up to `to`
    /// (exclusive): at most 366 days. Exact up to the last flush (`USAGE_FLUSH_MS`) of
    /// every replica. `apiKeyId` confines it to one key.
    async fn usage(
        &self,
        ctx: &Context<'_>,
        practice_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        api_key_id: Option<ID>,
    ) -> GqlResult<Report> {
        let (s, who) = caller(ctx)?;
        crate::domain::validate::id("practiceId", &practice_id).gql()?;
        who.require_admin(Some(&practice_id)).gql()?;
        if from >= to {
            return Err(AppError::bad_input("from must be before to")).gql();
        }
        if to - from > chrono::Duration::days(MAX_RANGE_DAYS) {
            return Err(AppError::bad_input(format!("the range may cover at most {MAX_RANGE_DAYS} days"))).gql();
        }
        if let Some(key) = &api_key_id {
            plain_id("apiKeyId", key, CLIENT_ID_CHARS).gql()?;
        }
        let meter = ctx.data::<Arc<crate::usage::Meter>>()?;
        let store = crate::usage::UsageStore::new(s.db.clone(), meter.clone());
        store.report(&practice_id, api_key_id.as_ref().map(|k| k.as_str()), from, to).await.gql()
    }

    /// Who read or changed the practice's patient data, newest first: optionally one
    /// patient's, within [from, to). Rows appear within `USAGE_FLUSH_MS`.
    #[allow(clippy::too_many_arguments)]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        practice_id: ID,
        patient_id: Option<ID>,
        subject: Option<String>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, AuditEntry>> {
        let (s, who) = caller(ctx)?;
        crate::domain::validate::id("practiceId", &practice_id).gql()?;
        who.require_admin(Some(&practice_id)).gql()?;
        if let Some(patient) = &patient_id {
            plain_id("patientId", patient, &[]).gql()?;
        }
        if let Some(value) = &subject {
            self::subject(value).gql()?;
        }
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(AppError::bad_input("from must be before to")).gql();
        }
        let first = crate::domain::validate::page_size(first).gql()?;
        let recorder = ctx.data::<Arc<crate::audit::Recorder>>()?;
        let store = crate::audit::AuditStore::new(s.db.clone(), recorder.clone());
        let criteria =
            Criteria { patient_id: patient_id.as_ref().map(|p| p.as_str()), subject: subject.as_deref(), from, to };
        let page = store.page(&practice_id, criteria, first, after.as_deref()).await.gql()?;
        Ok(connection(page))
    }
}

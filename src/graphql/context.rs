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

/// Notes that the operation read or changed `patient_id` of `practice_id`, for its audit
/// row (nothing when the operation is not audited: the hub's shared executions).
pub fn touch(ctx: &Context<'_>, practice_id: &str, patient_id: &str) {
    if let Some(touched) = ctx.data_opt::<crate::audit::Touched>() {
        touched.touch(practice_id, patient_id);
    }
}

/// A record about one patient, which the audit trail records reading or changing.
pub trait PatientData {
    /// (practice id, patient id).
    fn patient(&self) -> (&str, &str);
}

impl PatientData for crate::vocab::Patient {
    fn patient(&self) -> (&str, &str) {
        (&self.practice_id, &self.id)
    }
}

impl PatientData for crate::vocab::Appointment {
    fn patient(&self) -> (&str, &str) {
        (&self.practice_id, &self.patient.id)
    }
}

impl PatientData for crate::vocab::Charge {
    fn patient(&self) -> (&str, &str) {
        (&self.practice_id, &self.patient_id)
    }
}

impl PatientData for crate::vocab::Payment {
    fn patient(&self) -> (&str, &str) {
        (&self.practice_id, &self.patient_id)
    }
}

/// Passes `record` on, noting its patient for the operation's audit row.
pub fn touched<T: PatientData>(ctx: &Context<'_>, record: T) -> T {
    let (practice, patient) = record.patient();
    touch(ctx, practice, patient);
    record
}

/// Passes a page on, noting each record's patient.
pub fn touched_page<T: PatientData>(ctx: &Context<'_>, page: crate::db::paging::Page<T>) -> crate::db::paging::Page<T> {
    for (_, record) in &page.items {
        let (practice, patient) = record.patient();
        touch(ctx, practice, patient);
    }
    page
}

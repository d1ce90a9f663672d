//! Queries for patients and their payments.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};

use crate::domain::{billing, patients};
use crate::graphql::connection::connection;
use crate::graphql::context::{caller, touched, touched_page};
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{Patient, Payment};

#[derive(Default)]
pub struct PatientQuery;

#[Object]
impl PatientQuery {
    async fn patient(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Patient>> {
        let (s, who) = caller(ctx)?;
        patients::get(s, who, &id).await.map(|p| Some(touched(ctx, p))).gql()
    }

    /// A practice's patients in creation order; `search` matches names and email.
    async fn patients(
        &self,
        ctx: &Context<'_>,
        practice_id: ID,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Patient>> {
        let (s, who) = caller(ctx)?;
        patients::list(s, who, &practice_id, search.as_deref(), first, after.as_deref())
            .await
            .map(|page| connection(touched_page(ctx, page)))
            .gql()
    }

    /// A patient's payments, oldest first.
    async fn payments(
        &self,
        ctx: &Context<'_>,
        patient_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Payment>> {
        let (s, who) = caller(ctx)?;
        billing::payments(s, who, &patient_id, first, after.as_deref())
            .await
            .map(|page| connection(touched_page(ctx, page)))
            .gql()
    }
}

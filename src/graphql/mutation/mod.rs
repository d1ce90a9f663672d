//! The mutations, one file per resource, merged into `Mutation`.

mod api_keys;
mod appointments;
mod billing;
mod patients;
mod practices;
mod quotas;
mod webhooks;

#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    practices::PracticeMutation,
    patients::PatientMutation,
    appointments::AppointmentMutation,
    billing::BillingMutation,
    api_keys::ApiKeyMutation,
    webhooks::WebhookMutation,
    quotas::QuotaMutation,
);

//! The queries, one file per resource, merged into `Query`.

mod api_keys;
mod appointments;
mod bridges;
mod commands;
mod events;
mod patients;
mod practices;
mod usage;
mod webhooks;

#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    practices::PracticeQuery,
    patients::PatientQuery,
    appointments::AppointmentQuery,
    events::EventQuery,
    api_keys::ApiKeyQuery,
    webhooks::WebhookQuery,
    bridges::BridgeQuery,
    commands::CommandQuery,
    usage::UsageQuery,
);

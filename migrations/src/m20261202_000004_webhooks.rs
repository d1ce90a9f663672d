//! Webhooks: the endpoints a practice registers, one delivery per (endpoint, event) taken
//! from the event log, and every attempt made to deliver it.
//!
//! Times are epoch milliseconds, like the core tables.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(string(WebhookEndpoints::Id).primary_key())
                    .col(string(WebhookEndpoints::PracticeId))
                    .col(string(WebhookEndpoints::Url))
                    // A JSON array of event type names; empty means every type.
                    .col(text(WebhookEndpoints::EventTypes))
                    .col(string_null(WebhookEndpoints::Description))
                    .col(string(WebhookEndpoints::Secret))
                    // The secret before the last rotation, still signing until it expires.
                    .col(string_null(WebhookEndpoints::PreviousSecret))
                    .col(big_integer_null(WebhookEndpoints::PreviousSecretExpiresAt))
                    // Null while enabled; when disabled (410, failing too long, by hand) why.
                    .col(big_integer_null(WebhookEndpoints::DisabledAt))
                    .col(string_null(WebhookEndpoints::DisabledReason))
                    // The first failed attempt since the last success.
                    .col(big_integer_null(WebhookEndpoints::FailingSince))
                    // The dispatcher's position in the practice's log.
                    .col(big_integer(WebhookEndpoints::LastEnqueuedSeq).default(0))
                    // A worker holds the endpoint while one of its deliveries is in flight.
                    .col(big_integer_null(WebhookEndpoints::LeaseUntil))
                    .col(big_integer(WebhookEndpoints::CreatedAt))
                    .col(big_integer(WebhookEndpoints::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_endpoints_practice")
                    .table(WebhookEndpoints::Table)
                    .col(WebhookEndpoints::PracticeId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(string(WebhookDeliveries::Id).primary_key())
                    .col(string(WebhookDeliveries::EndpointId))
                    .col(string(WebhookDeliveries::PracticeId))
                    .col(big_integer(WebhookDeliveries::Seq))
                    .col(string(WebhookDeliveries::EventType))
                    .col(string(WebhookDeliveries::Status))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    // Attempts since the delivery was last queued (the retry schedule's index).
                    .col(integer(WebhookDeliveries::RoundAttempts).default(0))
                    .col(big_integer_null(WebhookDeliveries::NextAttemptAt))
                    // Bumped by every redelivery or replay, so an attempt already in flight
                    // does not overwrite the new request with its own outcome.
                    .col(integer(WebhookDeliveries::Generation).default(0))
                    .col(integer_null(WebhookDeliveries::LastStatusCode))
                    .col(big_integer_null(WebhookDeliveries::LastLatencyMs))
                    .col(string_null(WebhookDeliveries::LastError))
                    .col(big_integer_null(WebhookDeliveries::DeliveredAt))
                    .col(big_integer(WebhookDeliveries::CreatedAt))
                    .col(big_integer(WebhookDeliveries::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // One delivery per event and endpoint: enqueueing twice is a no-op.
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_endpoint_seq")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_due")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .col(string(WebhookAttempts::DeliveryId))
                    .col(integer(WebhookAttempts::Number))
                    .col(big_integer(WebhookAttempts::AttemptedAt))
                    .col(integer_null(WebhookAttempts::StatusCode))
                    .col(big_integer(WebhookAttempts::LatencyMs))
                    .col(string_null(WebhookAttempts::Error))
                    .primary_key(Index::create().col(WebhookAttempts::DeliveryId).col(WebhookAttempts::Number))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebhookAttempts::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            WebhookEndpoints::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    PracticeId,
    Url,
    EventTypes,
    Description,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    DisabledAt,
    DisabledReason,
    FailingSince,
    LastEnqueuedSeq,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    EndpointId,
    PracticeId,
    Seq,
    EventType,
    Status,
    Attempts,
    RoundAttempts,
    NextAttemptAt,
    Generation,
    LastStatusCode,
    LastLatencyMs,
    LastError,
    DeliveredAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    DeliveryId,
    Number,
    AttemptedAt,
    StatusCode,
    LatencyMs,
    Error,
}

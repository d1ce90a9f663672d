//! The core tables: the practice resources, API keys, idempotency records and the event log.
//!
//! Times are stored as integer epoch milliseconds: portable across SQLite and Postgres,
//! compared and indexed as plain integers.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Practices::Table)
                    .col(string(Practices::Id).primary_key())
                    .col(string(Practices::Name))
                    .col(string(Practices::Timezone))
                    .col(string(Practices::Currency))
                    // The per-practice event counter: the row every appending transaction
                    // locks, which makes `seq` gapless and in commit order.
                    .col(big_integer(Practices::LastSeq).default(0))
                    .col(big_integer(Practices::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Providers::Table)
                    .col(string(Providers::Id).primary_key())
                    .col(string(Providers::PracticeId))
                    .col(string(Providers::Name))
                    .col(string(Providers::Kind))
                    .col(big_integer(Providers::CreatedAt))
                    .to_owned(),
            )
            .await?;
        index(manager, "providers_practice", Providers::Table, &[Providers::PracticeId.into_iden()]).await?;
        manager
            .create_table(
                Table::create()
                    .table(Patients::Table)
                    .col(string(Patients::Id).primary_key())
                    .col(string(Patients::PracticeId))
                    .col(string(Patients::FirstName))
                    .col(string(Patients::LastName))
                    .col(string_null(Patients::Email))
                    .col(string_null(Patients::Phone))
                    .col(string_null(Patients::DateOfBirth))
                    .col(big_integer(Patients::BalanceCents).default(0))
                    .col(string(Patients::SearchText))
                    .col(big_integer(Patients::CreatedAt))
                    .col(big_integer(Patients::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "patients_practice",
            Patients::Table,
            &[Patients::PracticeId.into_iden(), Patients::Id.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Appointments::Table)
                    .col(string(Appointments::Id).primary_key())
                    .col(string(Appointments::PracticeId))
                    .col(string(Appointments::PatientId))
                    .col(string(Appointments::ProviderId))
                    .col(big_integer(Appointments::StartsAt))
                    .col(big_integer(Appointments::EndsAt))
                    .col(string(Appointments::Status))
                    .col(string_null(Appointments::Reason))
                    .col(string_null(Appointments::CancellationReason))
                    .col(integer(Appointments::Version))
                    .col(big_integer(Appointments::CreatedAt))
                    .col(big_integer(Appointments::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "appointments_provider_time",
            Appointments::Table,
            &[Appointments::ProviderId.into_iden(), Appointments::StartsAt.into_iden()],
        )
        .await?;
        index(
            manager,
            "appointments_practice_time",
            Appointments::Table,
            &[Appointments::PracticeId.into_iden(), Appointments::StartsAt.into_iden()],
        )
        .await?;
        index(manager, "appointments_patient", Appointments::Table, &[Appointments::PatientId.into_iden()]).await?;
        manager
            .create_table(
                Table::create()
                    .table(Charges::Table)
                    .col(string(Charges::Id).primary_key())
                    .col(string(Charges::PracticeId))
                    .col(string(Charges::PatientId))
                    .col(string_null(Charges::AppointmentId))
                    .col(big_integer(Charges::AmountCents))
                    .col(string(Charges::Description))
                    .col(big_integer(Charges::PostedAt))
                    .to_owned(),
            )
            .await?;
        index(manager, "charges_patient", Charges::Table, &[Charges::PatientId.into_iden(), Charges::Id.into_iden()])
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Payments::Table)
                    .col(string(Payments::Id).primary_key())
                    .col(string(Payments::PracticeId))
                    .col(string(Payments::PatientId))
                    .col(big_integer(Payments::AmountCents))
                    .col(string(Payments::Method))
                    .col(string_null(Payments::Reference))
                    .col(big_integer(Payments::PostedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "payments_patient",
            Payments::Table,
            &[Payments::PatientId.into_iden(), Payments::Id.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(string(ApiKeys::Id).primary_key())
                    .col(string(ApiKeys::Name))
                    .col(string(ApiKeys::Role))
                    .col(string_null(ApiKeys::PracticeId))
                    .col(string(ApiKeys::KeyPrefix))
                    .col(string_uniq(ApiKeys::KeyHash))
                    .col(big_integer(ApiKeys::CreatedAt))
                    .col(big_integer_null(ApiKeys::ExpiresAt))
                    .col(big_integer_null(ApiKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(string(IdempotencyKeys::Scope))
                    .col(string(IdempotencyKeys::Key))
                    .col(string(IdempotencyKeys::Operation))
                    .col(string(IdempotencyKeys::RequestHash))
                    .col(text(IdempotencyKeys::Response))
                    .col(big_integer(IdempotencyKeys::CreatedAt))
                    .primary_key(Index::create().col(IdempotencyKeys::Scope).col(IdempotencyKeys::Key))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(string(Events::PracticeId))
                    .col(big_integer(Events::Seq))
                    .col(string(Events::Type))
                    .col(big_integer(Events::OccurredAt))
                    // The snapshot as JSON text: written once, never queried into, so text
                    // keeps it byte-identical on both backends.
                    .col(text(Events::Payload))
                    .primary_key(Index::create().col(Events::PracticeId).col(Events::Seq))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Events::Table.into_iden(),
            IdempotencyKeys::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Payments::Table.into_iden(),
            Charges::Table.into_iden(),
            Appointments::Table.into_iden(),
            Patients::Table.into_iden(),
            Providers::Table.into_iden(),
            Practices::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

async fn index(manager: &SchemaManager<'_>, name: &str, table: impl IntoIden, cols: &[DynIden]) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(col.clone());
    }
    manager.create_index(stmt.to_owned()).await
}

#[derive(DeriveIden)]
enum Practices {
    Table,
    Id,
    Name,
    Timezone,
    Currency,
    LastSeq,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Providers {
    Table,
    Id,
    PracticeId,
    Name,
    Kind,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Patients {
    Table,
    Id,
    PracticeId,
    FirstName,
    LastName,
    Email,
    Phone,
    DateOfBirth,
    BalanceCents,
    SearchText,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Appointments {
    Table,
    Id,
    PracticeId,
    PatientId,
    ProviderId,
    StartsAt,
    EndsAt,
    Status,
    Reason,
    CancellationReason,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Charges {
    Table,
    Id,
    PracticeId,
    PatientId,
    AppointmentId,
    AmountCents,
    Description,
    PostedAt,
}

#[derive(DeriveIden)]
enum Payments {
    Table,
    Id,
    PracticeId,
    PatientId,
    AmountCents,
    Method,
    Reference,
    PostedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    Role,
    PracticeId,
    KeyPrefix,
    KeyHash,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Scope,
    Key,
    Operation,
    RequestHash,
    Response,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    PracticeId,
    Seq,
    Type,
    OccurredAt,
    Payload,
}

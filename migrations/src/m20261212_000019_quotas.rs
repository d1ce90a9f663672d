//! Quotas per practice, set by a global ADMIN. A practice without a row, or a
//! null column, is unlimited. Times are epoch milliseconds, like the core tables.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PracticeQuotas::Table)
                    .col(string(PracticeQuotas::PracticeId).primary_key())
                    .col(big_integer_null(PracticeQuotas::MaxConnections))
                    .col(big_integer_null(PracticeQuotas::MaxSubscriptions))
                    .col(big_integer_null(PracticeQuotas::MaxMutationsPerMinute))
                    .col(big_integer_null(PracticeQuotas::MaxDeliveriesPerDay))
                    .col(big_integer_null(PracticeQuotas::MaxWebhookEndpoints))
                    .col(big_integer(PracticeQuotas::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PracticeQuotas::Table, PracticeQuotas::PracticeId)
                            .to(Practices::Table, Practices::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PracticeQuotas::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum PracticeQuotas {
    Table,
    PracticeId,
    MaxConnections,
    MaxSubscriptions,
    MaxMutationsPerMinute,
    MaxDeliveriesPerDay,
    MaxWebhookEndpoints,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Practices {
    Table,
    Id,
}

//! Each event keeps the W3C trace context of the mutation that appended it (`traceparent`,
//! then a space and `tracestate` when there is one), so a delivery — minutes later, on
//! another replica — links its span back to that mutation's trace. Null when the mutation
//! was not traced (tracing off), and for every event before this.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Events::Table).add_column(string_null(Events::TraceContext)).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Events::Table).drop_column(Events::TraceContext).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Events {
    Table,
    TraceContext,
}

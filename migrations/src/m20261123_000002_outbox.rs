//! The outbox: one row per committed event not yet known to be on the bus, written in the
//! event's transaction and deleted once published, so a crash or a Redis outage between
//! commit and publish delays an event but never loses it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(string(Outbox::PracticeId))
                    .col(big_integer(Outbox::Seq))
                    .col(big_integer(Outbox::CreatedAt))
                    .primary_key(Index::create().col(Outbox::PracticeId).col(Outbox::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("outbox_created").table(Outbox::Table).col(Outbox::CreatedAt).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Outbox::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    PracticeId,
    Seq,
    CreatedAt,
}

//! The Kafka bridge's read-back marks: per (bridge, practice), a partition offset before
//! which no record of the practice with a seq above `seq` lies. A replica that takes a
//! practice over reads the partition from there to find what is already in the topic
//! (the topic, not this table, is the Kafka bridge's cursor; see `src/bridges/kafka`).
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
                    .table(KafkaMarks::Table)
                    .col(string(KafkaMarks::Bridge))
                    .col(string(KafkaMarks::PracticeId))
                    .col(integer(KafkaMarks::PartitionNo))
                    .col(big_integer(KafkaMarks::NextOffset))
                    .col(big_integer(KafkaMarks::Seq))
                    .col(big_integer(KafkaMarks::UpdatedAt))
                    .primary_key(Index::create().col(KafkaMarks::Bridge).col(KafkaMarks::PracticeId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(KafkaMarks::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum KafkaMarks {
    Table,
    Bridge,
    PracticeId,
    PartitionNo,
    NextOffset,
    Seq,
    UpdatedAt,
}

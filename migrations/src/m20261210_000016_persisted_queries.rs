//! Persisted queries: GraphQL documents stored under their SHA-256, shared by
//! every replica. Automatic ones (Apollo APQ) are bounded and pruned least recently used
//! first; registered ones (trusted documents) stay until removed by hand.
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
                    .table(PersistedQueries::Table)
                    // Lowercase hex SHA-256 of `document`.
                    .col(string(PersistedQueries::Hash).primary_key())
                    .col(text(PersistedQueries::Document))
                    // Registered ahead of time by an operator: allowed under
                    // PERSISTED_QUERIES_ONLY and never pruned.
                    .col(boolean(PersistedQueries::Registered).default(false))
                    .col(big_integer(PersistedQueries::CreatedAt))
                    // Touched at most once a minute per document, for pruning.
                    .col(big_integer(PersistedQueries::LastUsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("persisted_queries_pruning")
                    .table(PersistedQueries::Table)
                    .col(PersistedQueries::Registered)
                    .col(PersistedQueries::LastUsedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PersistedQueries::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum PersistedQueries {
    Table,
    Hash,
    Document,
    Registered,
    CreatedAt,
    LastUsedAt,
}

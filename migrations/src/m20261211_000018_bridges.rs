//! Bridges: one row per (bridge, practice) holding how far that practice's log
//! has been acknowledged by the bridge's broker (`seq`), and which replica publishes it
//! now (`owner`, until `lease_until`), like the webhook endpoints' lease.
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
                    .table(BridgeCursors::Table)
                    // The bridge and its destination, e.g. `nats/CLINICSTREAM`: a new
                    // destination starts from the beginning of the log.
                    .col(string(BridgeCursors::Bridge))
                    .col(string(BridgeCursors::PracticeId))
                    // The last seq the broker acknowledged (0: none yet).
                    .col(big_integer(BridgeCursors::Seq).default(0))
                    .col(string_null(BridgeCursors::Owner))
                    .col(big_integer_null(BridgeCursors::LeaseUntil))
                    .col(big_integer(BridgeCursors::UpdatedAt))
                    .primary_key(Index::create().col(BridgeCursors::Bridge).col(BridgeCursors::PracticeId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(BridgeCursors::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum BridgeCursors {
    Table,
    Bridge,
    PracticeId,
    Seq,
    Owner,
    LeaseUntil,
    UpdatedAt,
}

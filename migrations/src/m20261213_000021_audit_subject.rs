//! The audit trail names the person: a person's rows carry their subject (the access
//! token's `sub`) and display name beside the API key id that keys' rows carry; both are
//! null on keys' rows and on the rows written before. `auditLog(subject:)` reads one
//! person's rows of a practice, newest first, through `audit_log_practice_subject`.
//!
//! One column per ALTER TABLE: SQLite adds one at a time.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(AuditLog::Table).add_column(string_null(AuditLog::Subject)).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(AuditLog::Table).add_column(string_null(AuditLog::ActorName)).to_owned())
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_log_practice_subject")
                    .table(AuditLog::Table)
                    .col(AuditLog::PracticeId)
                    .col(AuditLog::Subject)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("audit_log_practice_subject").table(AuditLog::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(AuditLog::Table).drop_column(AuditLog::ActorName).to_owned()).await?;
        manager.alter_table(Table::alter().table(AuditLog::Table).drop_column(AuditLog::Subject).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    PracticeId,
    Subject,
    ActorName,
}

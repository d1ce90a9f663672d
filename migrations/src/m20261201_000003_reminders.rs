//! Appointment reminders: when each one is due (`remind_at`) and when it was sent
//! (`reminded_at`), with a partial index that holds only the armed ones.
//!
//! Existing SCHEDULED appointments that have not started are armed with the default lead
//! (30 minutes); a server with another `REMINDER_LEAD` arms new ones with its own.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DEFAULT_LEAD_MS: i64 = 30 * 60 * 1000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [Appointments::RemindAt, Appointments::RemindedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Appointments::Table)
                        .add_column(ColumnDef::new(column).big_integer().null())
                        .to_owned(),
                )
                .await?;
        }
        // Only armed reminders are indexed: the scheduler's "what is due" and "when is the
        // next one" read this index alone, however many appointments there are.
        manager
            .create_index(
                Index::create()
                    .name("appointments_remind_at")
                    .table(Appointments::Table)
                    .col(Appointments::RemindAt)
                    .and_where(Expr::col(Appointments::RemindAt).is_not_null())
                    .to_owned(),
            )
            .await?;
        let now_ms = match manager.get_database_backend() {
            DatabaseBackend::Postgres => "(EXTRACT(EPOCH FROM now()) * 1000)::bigint",
            _ => "(CAST(strftime('%s', 'now') AS INTEGER) * 1000)",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "UPDATE appointments SET remind_at = starts_at - {DEFAULT_LEAD_MS} \
                 WHERE status = 'SCHEDULED' AND starts_at > {now_ms}"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("appointments_remind_at").table(Appointments::Table).to_owned()).await?;
        for column in [Appointments::RemindAt, Appointments::RemindedAt] {
            manager.alter_table(Table::alter().table(Appointments::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Appointments {
    Table,
    RemindAt,
    RemindedAt,
}

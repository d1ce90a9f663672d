//! Usage metering and the access audit trail.
//!
//! `usage_counts` holds additive counters per (practice, API key, UTC hour, metric): each
//! replica adds its in-memory deltas with one upsert per flush (`n = n + excluded.n`), so
//! replicas never overwrite each other and nothing is counted twice. `usage_peaks` holds
//! each replica's own peak of open connections and subscriptions per hour (replicas keep
//! their own rows; readers add them up). `audit_log` is append-only: rows are inserted
//! and, past `AUDIT_RETENTION`, pruned — never updated.
//!
//! Times are epoch milliseconds, like the core tables; an API key id of `''` is the
//! bootstrap `ADMIN_KEY`, and `'*'` in `usage_peaks` is the practice as a whole.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UsageCounts::Table)
                    .col(string(UsageCounts::PracticeId))
                    .col(string(UsageCounts::ApiKeyId))
                    // The start of the UTC hour.
                    .col(big_integer(UsageCounts::Hour))
                    // `op:QUERY`, `delivery:WEBSOCKET`, `event:PAYMENT_POSTED`, ...
                    .col(string(UsageCounts::Metric))
                    .col(big_integer(UsageCounts::N).default(0))
                    .primary_key(
                        Index::create()
                            .col(UsageCounts::PracticeId)
                            .col(UsageCounts::Hour)
                            .col(UsageCounts::ApiKeyId)
                            .col(UsageCounts::Metric),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsagePeaks::Table)
                    .col(string(UsagePeaks::PracticeId))
                    .col(string(UsagePeaks::ApiKeyId))
                    .col(big_integer(UsagePeaks::Hour))
                    .col(string(UsagePeaks::Replica))
                    // `connections` or `subscriptions`.
                    .col(string(UsagePeaks::Metric))
                    .col(big_integer(UsagePeaks::N).default(0))
                    .primary_key(
                        Index::create()
                            .col(UsagePeaks::PracticeId)
                            .col(UsagePeaks::Hour)
                            .col(UsagePeaks::ApiKeyId)
                            .col(UsagePeaks::Replica)
                            .col(UsagePeaks::Metric),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(big_integer(AuditLog::Id).auto_increment().primary_key())
                    .col(string(AuditLog::PracticeId))
                    .col(big_integer(AuditLog::At))
                    .col(string_null(AuditLog::ApiKeyId))
                    .col(string(AuditLog::Role))
                    .col(string_null(AuditLog::OperationName))
                    .col(string(AuditLog::Transport))
                    .col(string(AuditLog::Action))
                    // The patient ids, comma-separated, with a leading and a trailing comma
                    // (`,p1,p2,`) so that one patient's rows are found by `LIKE '%,p1,%'`.
                    .col(text(AuditLog::PatientIds))
                    .col(text_null(AuditLog::Filter))
                    .col(big_integer_null(AuditLog::Deliveries))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_log_practice_at")
                    .table(AuditLog::Table)
                    .col(AuditLog::PracticeId)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("audit_log_at").table(AuditLog::Table).col(AuditLog::At).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditLog::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(UsagePeaks::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(UsageCounts::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum UsageCounts {
    Table,
    PracticeId,
    ApiKeyId,
    Hour,
    Metric,
    N,
}

#[derive(DeriveIden)]
enum UsagePeaks {
    Table,
    PracticeId,
    ApiKeyId,
    Hour,
    Replica,
    Metric,
    N,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    PracticeId,
    At,
    ApiKeyId,
    Role,
    OperationName,
    Transport,
    Action,
    PatientIds,
    Filter,
    Deliveries,
}

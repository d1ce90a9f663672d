//! The database schema of clinicstream, as sea-orm migrations that run unchanged on
//! SQLite (the embedded default) and Postgres.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_core;
mod m20261123_000002_outbox;
mod m20261201_000003_reminders;
mod m20261202_000004_webhooks;
mod m20261210_000016_persisted_queries;
mod m20261211_000018_bridges;
mod m20261212_000019_quotas;
mod m20261212_000020_usage_audit;
mod m20261213_000021_audit_subject;
mod m20261214_000022_websub;
mod m20261215_000024_kafka_marks;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_core::Migration),
            Box::new(m20261123_000002_outbox::Migration),
            Box::new(m20261201_000003_reminders::Migration),
            Box::new(m20261202_000004_webhooks::Migration),
            Box::new(m20261210_000016_persisted_queries::Migration),
            Box::new(m20261211_000018_bridges::Migration),
            Box::new(m20261212_000019_quotas::Migration),
            Box::new(m20261212_000020_usage_audit::Migration),
            Box::new(m20261213_000021_audit_subject::Migration),
            Box::new(m20261214_000022_websub::Migration),
            Box::new(m20261215_000024_kafka_marks::Migration),
        ]
    }
}

//! WebSub subscriptions are webhook endpoints of another protocol, so they share the
//! delivery queue, the worker, its retries, the private-address guard and per-endpoint
//! order: `protocol` is `WEBHOOK` (every row before) or `WEBSUB`; a WebSub row has its
//! `topic` (the topic URL the subscriber asked for) and the end of its lease. Its callback
//! is `url`, its `hub.secret` is `secret` (empty: unsigned).
//!
//! One column per ALTER TABLE: SQLite adds one at a time.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let protocol = string(WebhookEndpoints::Protocol).default("WEBHOOK").to_owned();
        for column in
            [protocol, string_null(WebhookEndpoints::Topic), big_integer_null(WebhookEndpoints::LeaseExpiresAt)]
        {
            manager.alter_table(Table::alter().table(WebhookEndpoints::Table).add_column(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [WebhookEndpoints::LeaseExpiresAt, WebhookEndpoints::Topic, WebhookEndpoints::Protocol] {
            manager.alter_table(Table::alter().table(WebhookEndpoints::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Protocol,
    Topic,
    LeaseExpiresAt,
}

//! The `webhook_endpoints` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub practice_id: String,
    pub url: String,
    /// A JSON array of event type names; empty means every type.
    pub event_types: String,
    pub description: Option<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    pub last_enqueued_seq: i64,
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// `WEBHOOK`, or `WEBSUB` for a WebSub subscription (its callback is `url`).
    pub protocol: String,
    /// A WebSub subscription's topic URL.
    pub topic: Option<String>,
    /// When a WebSub subscription's lease ends (ms): nothing is sent to it after.
    pub lease_expires_at: Option<i64>,
}

/// `protocol` of a WebSub subscription.
pub const WEBSUB: &str = "WEBSUB";
/// `protocol` of a webhook endpoint.
pub const WEBHOOK: &str = "WEBHOOK";

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

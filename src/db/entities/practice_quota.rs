//! The `practice_quotas` table: a practice's quotas (null = unlimited).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "practice_quotas")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub practice_id: String,
    pub max_connections: Option<i64>,
    pub max_subscriptions: Option<i64>,
    pub max_mutations_per_minute: Option<i64>,
    pub max_deliveries_per_day: Option<i64>,
    pub max_webhook_endpoints: Option<i64>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

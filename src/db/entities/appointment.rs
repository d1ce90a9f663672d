//! The `appointments` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "appointments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub practice_id: String,
    pub patient_id: String,
    pub provider_id: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub status: String,
    pub reason: Option<String>,
    pub cancellation_reason: Option<String>,
    pub version: i32,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the reminder is due (`starts_at − REMINDER_LEAD`); NULL when none is armed.
    pub remind_at: Option<i64>,
    /// When the reminder for the current `starts_at` was sent.
    pub reminded_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

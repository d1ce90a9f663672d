//! The database: connecting (with migrations) and the sea-orm entities.

mod connect;
pub mod entities;

pub use connect::{connect, is_unique_violation};

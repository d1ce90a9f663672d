//! The Redis bus: events fan out to every replica through Redis pub/sub, one channel per
//! practice, one pub/sub connection per replica, fanned out locally.

mod bus;
mod listener;
pub(crate) mod publisher;
pub(crate) mod wire;

pub use bus::{RedisBus, RedisSettings};

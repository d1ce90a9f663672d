//! HTTP long polling (`GET /practices/{practiceId}/events`): for clients behind proxies
//! that buffer or cut streams, one request that returns as soon as events exist after a
//! cursor, or empty after a wait.

mod handler;
mod params;

pub use handler::get;
pub(super) use handler::{base_url, rate_limited, refused};

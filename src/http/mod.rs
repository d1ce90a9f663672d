//! The HTTP edge: the router, GraphQL over HTTP, websockets and SSE, the browser assets
//! (GraphiQL, the dashboard) and health.

mod assets;
mod auth;
mod graphql;
mod health;
pub mod metrics;
mod router;
mod sse;
mod subscriptions;
mod ws;

pub use router::router;

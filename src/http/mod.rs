//! The HTTP edge: the router, GraphQL over HTTP and websockets, GraphiQL and health.

mod auth;
mod graphiql;
mod graphql;
mod health;
pub mod metrics;
mod router;
mod sse;
mod subscriptions;
mod ws;

pub use router::router;

//! The HTTP edge: the router, GraphQL over HTTP, websockets and SSE, the browser assets
//! (GraphiQL, the dashboard), the pages' sign-in settings, health, and long polling of a
//! practice's log.

mod assets;
mod auth;
mod cors;
mod graphql;
mod health;
mod logout;
pub mod metrics;
mod multipart;
mod params;
mod polling;
mod router;
mod signin;
mod sse;
pub(crate) mod streamed;
pub(crate) mod subscriptions;
mod websub;
mod ws;

pub(crate) use graphql::CommandDoor;
pub use router::router;

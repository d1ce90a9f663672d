//! GraphQL over Server-Sent Events at `/graphql/stream` (the graphql-sse protocol, distinct
//! connections mode), with resumption: every event's SSE `id:` is its cursor, and a
//! reconnect's `Last-Event-ID` becomes the subscription's `after`.

mod handler;
mod request;
mod resume;
mod stream;

pub use handler::{get, post};

//! GraphQL over HTTP (POST for everything, GET for queries), per the GraphQL-over-HTTP
//! spec: `application/graphql-response+json` gets 4xx for request errors, plain
//! `application/json` always 200 for a well-formed request. A POSTed JSON array is a
//! batch; a subscription asked for as `multipart/mixed` streams (`http::multipart`).
//!
//! `handlers` reads requests, `operation` admits and runs one operation (its rate token,
//! its persisted query, its metrics), `answer` encodes the results, `batch` runs arrays, `command` runs the mutations that
//! come in from a bus (`inbox`).

mod answer;
mod batch;
mod command;
mod handlers;
mod operation;

pub use command::CommandDoor;
pub use handlers::{get, post};

//! The gRPC door: `clinicstream.v1.Events/Subscribe`, a practice's events as one server
//! stream over the same log, cursors and hub as SSE, with `grpc.health.v1` and server
//! reflection, served on its own listener (`GRPC_LISTEN_ADDR`).

mod event;
pub mod proto;
mod serve;
mod service;
mod status;

pub use serve::serve;

//! The code generated from `proto/clinicstream/v1/events.proto`, checked in (see
//! `tests/api/grpc/codegen.rs`, which regenerates it and fails on drift), and the encoded
//! descriptor set that server reflection serves.

#[allow(clippy::all, clippy::pedantic)]
mod generated {
    include!("generated/clinicstream.v1.rs");
}

pub use generated::events_server::{Events, EventsServer};
pub use generated::{Event, SubscribeRequest};

/// `proto/clinicstream/v1/events.proto` compiled to a `FileDescriptorSet` (with its comments).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("generated/events.bin");

/// The service's full name, as health checks and reflection list it.
pub const SERVICE_NAME: &str = "clinicstream.v1.Events";

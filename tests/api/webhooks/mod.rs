//! Webhooks, end to end, against a real HTTP receiver started by each test.

mod access;
mod delivery;
mod loopback_names;
pub(crate) mod receiver;
mod replay;
mod replicas;
mod retention;
pub(crate) mod support;
mod verify;

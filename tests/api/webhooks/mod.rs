//! Webhooks, end to end, against a real HTTP receiver started by each test.

mod access;
mod delivery;
mod receiver;
mod replay;
mod replicas;
mod retention;
mod support;
mod verify;

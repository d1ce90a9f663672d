//! OpenTelemetry traces, exported by the real binary to an OTLP/HTTP receiver.

mod receiver;
mod settings;
mod traces;

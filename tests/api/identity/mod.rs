//! People's access tokens beside API keys: verified against the issuer's keys on every
//! door; the hostile ones each refused with nothing written and nothing internal said.

pub mod issuer;

mod hostile;
mod patient;
mod patient_streams;
mod provider;
mod tokens;

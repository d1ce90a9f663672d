//! Who is calling: API keys (generated, hashed, looked up) and the principal they grant.

mod keys;
mod principal;

pub use keys::{KeyMaterial, authenticate, bearer, hash_key, new_key};
pub use principal::{Auth, Principal};

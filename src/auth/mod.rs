//! Who is calling: API keys (generated, hashed, looked up), and the principal a key or a
//! person's token grants.

mod key_cache;
mod keys;
mod principal;
mod rate_limit;
mod sessions;

pub use key_cache::KeyCache;
pub use keys::{KeyMaterial, bearer, hash_key, new_key};
pub use principal::{Actor, Auth, Grant, Person, Principal};
pub use rate_limit::RateLimiter;
pub use sessions::{Credentials, Sessions};

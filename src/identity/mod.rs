//! People, not only keys: access tokens (JWTs) that an OpenID Provider issued, verified
//! against its published keys, and what their claims grant. Beside API keys, never
//! instead of them.
//!
//! - `settings`: `OIDC_ISSUER` or `JWT_JWKS_URL`, `JWT_AUDIENCE`, the claims' namespace,
//!   the leeway, and the browser's `OIDC_CLIENT_ID`.
//! - `jwks`: the issuer's keys, fetched (by discovery or from the URL), kept as long as the
//!   issuer's `Cache-Control` says, fetched again for an unknown `kid` at most every
//!   `REFETCH_AFTER`.
//! - `token`: one access token verified to a `Principal` (signature, `iss`, `aud`, `exp`,
//!   `nbf`, size), or why not.
//! - `claims`: the namespaced claims object to a `Grant`.
//! - `logout`: OpenID Connect Back-Channel Logout — logout tokens verified;
//!   `logouts`: the sessions and people logged out, refused from then on.

mod claims;
mod jwks;
mod logout;
mod logouts;
mod settings;
mod token;

pub use claims::ClaimsObject;
pub use logouts::{LoggedOut, Logouts};
pub use settings::{DEFAULT_SCOPE, IdentityArgs, IdentitySettings};
pub use token::{Identity, Refused, looks_like_jwt};

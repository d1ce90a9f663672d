//! The WebSub hub (W3C WebSub): a subscriber asks `POST /websub` to send a topic — a
//! practice's events, optionally some types — to its callback; the hub verifies the
//! intent (a GET with `hub.challenge` the callback must echo) before the subscription is
//! active, and removes it the same way. An active subscription is a webhook endpoint row of
//! protocol `WEBSUB` with a lease: the dispatcher, the queue, the worker's retries and
//! order and the private-address guard are the webhooks'; only the body (the event's
//! `data`) and the headers (`Link`, `X-Hub-Signature`) differ.

mod content;
mod list;
mod request;
mod store;
mod verify;

pub use content::distribution_headers;
pub use list::list;
pub use request::{DEFAULT_LEASE_SECONDS, Intent, MAX_LEASE_SECONDS, MIN_LEASE_SECONDS, Mode, Topic, parse_request};
pub use store::{count_others, verify_and_apply};

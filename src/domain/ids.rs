//! Resource ids: a type prefix and a time-ordered UUIDv7, e.g. `pat_0193…`. Opaque to clients.

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

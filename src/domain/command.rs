//! A command from a bus (`inbox`) runs its mutations inside a `Command` scope: each
//! mutation without an `idempotencyKey` of its own gets one derived from the command's id
//! and its place in the document (`command:<id>#0`, `#1`, … — root mutation fields run
//! one after another), stored with its result in the mutation's own transaction
//! (`MutationTx`). A redelivered command thus replays every mutation that committed,
//! even when the replica died between the commit and the broker's ack.
//!
//! The scope is a task-local around the one execution, so the GraphQL layer between the
//! consumer and `MutationTx` passes nothing along and HTTP requests never have one.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

struct Command {
    id: String,
    next: AtomicU32,
    replayed: AtomicU32,
}

tokio::task_local! {
    static COMMAND: Command;
}

/// What the mutations of one command did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Mutations that asked for a derived key.
    pub mutations: u32,
    /// Of those, the ones answered from an earlier delivery's stored result.
    pub replayed: u32,
}

/// Runs `work` (one command's execution) with keys derived from `id`.
pub async fn as_command<F: Future>(id: &str, work: F) -> (F::Output, Tally) {
    let command = Command { id: id.to_string(), next: AtomicU32::new(0), replayed: AtomicU32::new(0) };
    COMMAND
        .scope(command, async move {
            let output = work.await;
            let tally = COMMAND.with(|c| Tally {
                mutations: c.next.load(Ordering::Relaxed),
                replayed: c.replayed.load(Ordering::Relaxed),
            });
            (output, tally)
        })
        .await
}

/// The key of the command's next mutation; None outside a command.
pub(super) fn next_key() -> Option<String> {
    COMMAND.try_with(|c| format!("command:{}#{}", c.id, c.next.fetch_add(1, Ordering::Relaxed))).ok()
}

/// Counts a mutation answered from its stored result (a no-op outside a command).
pub(super) fn replayed() {
    let _ = COMMAND.try_with(|c| c.replayed.fetch_add(1, Ordering::Relaxed));
}

/// The longest command id: its derived keys stay within an idempotency key's 255.
pub const MAX_ID_LEN: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_derived_in_order_inside_a_command_only() {
        assert_eq!(next_key(), None);
        let (keys, tally) = as_command("c-1", async { [next_key(), next_key()] }).await;
        assert_eq!(keys, [Some("command:c-1#0".to_string()), Some("command:c-1#1".to_string())]);
        assert_eq!(tally, Tally { mutations: 2, replayed: 0 });
    }
}

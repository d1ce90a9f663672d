//! The reminder scheduler: one task per replica that sends APPOINTMENT_STARTING_SOON as
//! reminders come due (the rules are in `reminders`, beside it).
//!
//! It sleeps until the next armed reminder is due (one indexed lookup), wakes early when
//! this replica arms a sooner one, and polls every `POLL` for reminders armed by other
//! replicas. Sleeping goes through the injected `Clock`, so a test clock moved by hand
//! wakes it. Any number of replicas run it; they never send a reminder twice.

use std::future::pending;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Services;
use super::reminders::{self, Sent};
use crate::clock::{Sleep, from_millis};
use crate::error::AppResult;

/// The longest the scheduler sleeps without looking: how late a reminder armed on another
/// replica (sooner than anything this replica knew of) can be.
const POLL: Duration = Duration::from_secs(10);
/// Due reminders that another replica is sending are looked at again after this.
const RETRY: Duration = Duration::from_millis(250);
/// A failed round (database unreachable) is retried after this.
const ERROR_BACKOFF: Duration = Duration::from_secs(2);

enum Wait {
    /// Until the next reminder is due (epoch ms, by the clock).
    Until(i64),
    /// For a while (real time).
    For(Duration),
    /// Nothing armed: until woken or the next poll.
    Idle,
}

/// Starts the scheduler on `tracker`; it stops when `shutdown` is cancelled (a round in
/// progress finishes its transaction first).
pub fn spawn_scheduler(services: Services, shutdown: CancellationToken, tracker: &TaskTracker) {
    tracker.spawn(run(services, shutdown));
}

#[tracing::instrument(name = "reminder_scheduler", skip_all)]
async fn run(s: Services, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        s.reminders.awake();
        let wait = send_all_due(&s, &shutdown).await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "sending reminders failed; retrying");
            Wait::For(ERROR_BACKOFF)
        });
        let (deadline, pause) = match wait {
            Wait::Until(at) => (Some(at), POLL),
            Wait::For(pause) => (None, pause),
            Wait::Idle => (None, POLL),
        };
        let doorbell = s.reminders.sleeping(deadline);
        let due: Sleep = match deadline {
            Some(at) => s.clock.sleep_until(from_millis(at)),
            None => Box::pin(pending()),
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = due => {}
            _ = doorbell.notified() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Sends everything due, round after round, then says how long to sleep.
async fn send_all_due(s: &Services, shutdown: &CancellationToken) -> AppResult<Wait> {
    let mut total = Sent::default();
    loop {
        let now = s.now_ms();
        let sent = reminders::send_due(s, now).await?;
        total.reminded += sent.reminded;
        total.disarmed += sent.disarmed;
        if sent.candidates > 0 && !shutdown.is_cancelled() {
            continue;
        }
        if total.reminded + total.disarmed > 0 {
            tracing::debug!(reminded = total.reminded, disarmed = total.disarmed, "reminders sent");
        }
        return Ok(match reminders::next_due(s).await? {
            None => Wait::Idle,
            Some(at) if at > s.now_ms() => Wait::Until(at),
            // Came due while this round ran: another round at once.
            Some(at) if at > now => continue,
            // Due before the round began yet not found: held by another replica just now.
            Some(_) => Wait::For(RETRY),
        });
    }
}

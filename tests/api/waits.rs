//! Waiting for what a test can observe (a metric, a row, a status, a message) instead of
//! sleeping for a guess: one polling loop, `eventually`, and the probes tests share.

use clinicstream::events::{StreamTransport, TransportLabel};
use std::time::Duration;

use crate::helpers::TestApp;

/// How often `eventually` looks again.
const POLL: Duration = Duration::from_millis(20);

/// Looks at `probe` until what it sees satisfies `done`, every 20 ms for at most `within`:
/// `Ok` with what it saw then, or `Err` with the last look once the time is up. The one
/// readiness wait of the tests: a test waits for what it can observe, never for a guess.
pub async fn eventually<T>(
    within: Duration,
    mut probe: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> Result<T, T> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let seen = probe().await;
        if done(&seen) {
            return Ok(seen);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(seen);
        }
        // timing: the pause between two looks; the wait ends on the condition, not on this.
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `done` holds (checked every 20 ms, at most `within`).
pub async fn until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    eventually(within, async || done(), |held| *held).await.is_ok()
}

/// The subscriptions `app` holds open over `transport` (its `clinicstream_subscriptions`
/// gauge): a subscription counts once it is registered, so events after it reach it.
pub fn open_subscriptions(app: &TestApp, transport: StreamTransport) -> i64 {
    app.state().services.domain.counters.subscriptions.get_or_create(&TransportLabel::of(transport)).get()
}

/// Waits until `app` holds `n` subscriptions open over `transport`; panics after 10 s.
pub async fn wait_subscribed(app: &TestApp, transport: StreamTransport, n: i64) {
    let open = || open_subscriptions(app, transport);
    assert!(until(Duration::from_secs(10), || open() == n).await, "{} subscriptions open, not {n}", open());
}

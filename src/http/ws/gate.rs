//! Polling a connection's many wake sources only when one of them fired.
//!
//! A connection task waits on its socket, its operations, its timers and its outbound
//! queue at once. Most wakes are the outbound queue (an event to write); re-polling the
//! socket, the timers and the operations on each of them costs more than the write. So
//! everything but the queue is polled through a [`Gate`]: with a waker of the gate's own,
//! which notes that it fired. While it has not fired, the gated future is not polled at
//! all; the wakers its parts registered stay registered (tokio keeps a socket's or a
//! timer's waker until it fires), so nothing is missed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

pub(super) struct Gate {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Gate {
    /// A gate that polls at its first use.
    pub(super) fn new() -> (Arc<Self>, Waker) {
        let gate = Arc::new(Self { woken: AtomicBool::new(true), task: AtomicWaker::new() });
        let waker = Waker::from(gate.clone());
        (gate, waker)
    }

    /// Polls at the next use whatever fired (after the task changed what is being waited on).
    pub(super) fn open(&self) {
        self.woken.store(true, Ordering::Release);
    }

    /// Polls `future` if something it waits on has fired since the last poll.
    pub(super) fn poll<F: Future>(&self, waker: &Waker, future: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.task.register(cx.waker());
        if !self.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        future.poll(&mut Context::from_waker(waker))
    }
}

impl Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn a_gated_future_is_polled_again_only_after_its_waker_fired() {
        let (gate, waker) = Gate::new();
        let (sender, receiver) = tokio::sync::oneshot::channel::<u8>();
        let mut receiver = receiver;
        let mut polls = 0;
        let mut future = std::future::poll_fn(|cx| {
            polls += 1;
            Pin::new(&mut receiver).poll(cx)
        });
        let mut poll_once =
            || std::future::poll_fn(|cx| Poll::Ready(gate.poll(&waker, Pin::new(&mut future), cx))).now_or_never();
        assert!(matches!(poll_once(), Some(Poll::Pending)));
        assert!(matches!(poll_once(), Some(Poll::Pending)), "not woken: not polled");
        sender.send(7).unwrap();
        assert!(matches!(poll_once(), Some(Poll::Ready(Ok(7)))));
        assert_eq!(polls, 2);
    }
}

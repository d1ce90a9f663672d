//! How a subscription field runs when the delivery hub (`crate::hub`) drives it instead of
//! a per-subscriber `Feed`.
//!
//! - A [`Probe`] in the request data makes the field do everything a subscriber's start
//!   does — authorise, validate its arguments, check its cursor — and report where and
//!   what it would read ([`FeedSpec`]) instead of opening a feed. The subscriber sees
//!   exactly the errors it would see without the hub.
//! - A [`Source`] makes the field read the events the hub hands it: one execution of the
//!   operation then serves every subscriber that sent the same operation.

use futures_util::Stream;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::sync::oneshot;

use crate::events::{FeedFilter, StoredEvent};

/// Where a subscriber's events come from and where it starts.
#[derive(Clone, Debug)]
pub struct FeedSpec {
    pub practice_id: String,
    pub filter: FeedFilter,
    /// The last seq the subscriber has seen: its cursor's, or the head when it has none.
    pub start: i64,
}

/// Asks a subscription field for its [`FeedSpec`].
pub struct Probe {
    found: Mutex<Option<oneshot::Sender<FeedSpec>>>,
    /// Replaces the field's `after` argument (SSE's `Last-Event-ID`).
    pub after: Option<String>,
}

impl Probe {
    pub fn new(after: Option<String>) -> (Self, oneshot::Receiver<FeedSpec>) {
        let (sender, receiver) = oneshot::channel();
        (Self { found: Mutex::new(Some(sender)), after }, receiver)
    }

    /// Reports the spec; only the first root field of an operation is heard.
    pub fn found(&self, spec: FeedSpec) {
        if let Some(sender) = self.found.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = sender.send(spec);
        }
    }
}

/// The events of a shared execution, pushed by the hub one at a time.
#[derive(Clone)]
pub struct Source(Arc<SourceInner>);

struct SourceInner {
    bound: Mutex<Option<oneshot::Sender<(String, FeedFilter)>>>,
    queue: Mutex<(VecDeque<Arc<StoredEvent>>, Option<Waker>)>,
}

impl Source {
    /// A source, and what its field says it reads once the operation starts.
    pub fn new() -> (Self, oneshot::Receiver<(String, FeedFilter)>) {
        let (sender, receiver) = oneshot::channel();
        let inner = SourceInner { bound: Mutex::new(Some(sender)), queue: Mutex::default() };
        (Self(Arc::new(inner)), receiver)
    }

    /// Called by the field: the practice and filter it reads.
    pub fn bind(&self, practice_id: &str, filter: FeedFilter) {
        if let Some(sender) = self.0.bound.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = sender.send((practice_id.to_string(), filter));
        }
    }

    /// Hands the field an event to resolve.
    pub fn push(&self, event: Arc<StoredEvent>) {
        let mut queue = self.0.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.0.push_back(event);
        if let Some(waker) = queue.1.take() {
            waker.wake();
        }
    }

    /// The events, as the field's stream.
    pub fn events(&self) -> SourceEvents {
        SourceEvents(self.0.clone())
    }
}

pub struct SourceEvents(Arc<SourceInner>);

impl Stream for SourceEvents {
    type Item = Arc<StoredEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut queue = self.0.queue.lock().unwrap_or_else(|e| e.into_inner());
        match queue.0.pop_front() {
            Some(event) => Poll::Ready(Some(event)),
            None => {
                queue.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

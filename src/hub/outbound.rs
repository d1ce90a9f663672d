//! A connection's outbound queue: what the hubs hand a socket (or an SSE stream), bounded
//! in bytes. The hub pushes without waiting; the connection's one task takes everything
//! queued at once and writes it in one go. A queue past its bound takes nothing more:
//! the hub moves that connection's registrations to catching up from the log instead,
//! and is told when the queue has drained.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use crate::events::{Cursor, StoredEvent};

/// What one of a connection's operations is called on the wire, and how far it got.
pub struct Tag {
    /// The id as a JSON string, then the id itself: one allocation for both.
    text: Box<str>,
    json_len: usize,
    stopped: AtomicBool,
    /// The seq of the last event written to the client (0: none yet).
    last_written: AtomicI64,
    /// Shared with the subscription's usage key (see `bind`).
    practice_id: OnceLock<Arc<str>>,
}

impl Tag {
    pub fn new(id: &str) -> Arc<Self> {
        let mut text = serde_json::Value::from(id).to_string();
        let json_len = text.len();
        text.push_str(id);
        Arc::new(Self {
            text: text.into_boxed_str(),
            json_len,
            stopped: AtomicBool::new(false),
            last_written: AtomicI64::new(0),
            practice_id: OnceLock::new(),
        })
    }

    /// The operation's id.
    pub fn id(&self) -> &str {
        &self.text[self.json_len..]
    }

    /// The id as a JSON string, ready to splice into a message.
    pub fn id_json(&self) -> &str {
        &self.text[..self.json_len]
    }

    /// The operation was stopped: anything still queued for it is not written.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// The operation reads this practice's events.
    pub fn bind(&self, practice_id: &Arc<str>) {
        let _ = self.practice_id.set(practice_id.clone());
    }

    /// Notes that the result of `seq` (an event, or a live query's revision) went out.
    pub fn written(&self, seq: i64) {
        self.last_written.store(seq, Ordering::Relaxed);
    }

    /// Where the client can resume: the cursor of the last event it was sent.
    pub fn resume_cursor(&self) -> Option<String> {
        let seq = self.last_written.load(Ordering::Relaxed);
        let practice_id = self.practice_id.get()?;
        (seq > 0).then(|| Cursor { practice_id: practice_id.to_string(), seq }.encode())
    }
}

/// One message for a connection.
pub enum Frame {
    /// A result of a shared execution: the serialised `{"data": …}`, shared by every
    /// subscriber of that operation, and the event it is about.
    Next { tag: Arc<Tag>, payload: Arc<str>, event: Arc<StoredEvent> },
    /// A live query's result (whole, or a delta), as of the practice's seq `revision`.
    Live { tag: Arc<Tag>, payload: Arc<str>, revision: i64 },
    /// The operation ended on the server's side.
    Complete { tag: Arc<Tag> },
}

impl Frame {
    pub fn tag(&self) -> &Arc<Tag> {
        match self {
            Frame::Next { tag, .. } | Frame::Live { tag, .. } | Frame::Complete { tag } => tag,
        }
    }

    /// What it costs the queue: the payload and the message around it.
    fn cost(&self) -> usize {
        match self {
            Frame::Next { tag, payload, .. } | Frame::Live { tag, payload, .. } => {
                payload.len() + tag.id_json().len() + 48
            }
            Frame::Complete { tag } => tag.id_json().len() + 32,
        }
    }
}

/// What became of an offered frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// At the bound: the subscriber catches up from the log once the queue drains.
    Full,
    /// The connection is gone.
    Closed,
}

/// Called once the queue has room again.
pub type Drained = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    frames: VecDeque<Frame>,
    bytes: usize,
    waker: Option<Waker>,
    drained: Vec<Drained>,
    closed: bool,
}

pub struct Outbound {
    queue: Mutex<Queue>,
    max_bytes: usize,
}

impl Outbound {
    pub fn new(max_bytes: usize) -> Arc<Self> {
        Arc::new(Self { queue: Mutex::default(), max_bytes: max_bytes.max(1) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the queue is at its bound (or the connection is gone): push nothing more.
    pub fn is_full(&self) -> bool {
        let queue = self.lock();
        queue.closed || queue.bytes >= self.max_bytes
    }

    /// Queues a frame unless the queue is at its bound, and wakes the connection if it
    /// waits.
    pub fn offer(&self, frame: Frame) -> Offer {
        self.put(frame, false)
    }

    /// Queues a frame whatever the bound (the last word of an operation). Returns false
    /// once the connection is gone.
    pub fn push(&self, frame: Frame) -> bool {
        matches!(self.put(frame, true), Offer::Queued)
    }

    fn put(&self, frame: Frame, always: bool) -> Offer {
        let waker = {
            let mut queue = self.lock();
            if queue.closed {
                return Offer::Closed;
            }
            if !always && queue.bytes >= self.max_bytes {
                return Offer::Full;
            }
            queue.bytes += frame.cost();
            queue.frames.push_back(frame);
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Offer::Queued
    }

    /// Runs `then` once the queue has drained to half its bound (at once if it has).
    /// A closed queue never calls it: the connection's registrations are going away.
    pub fn when_drained(&self, then: Drained) {
        let mut queue = self.lock();
        if queue.closed {
            return;
        }
        if queue.bytes * 2 < self.max_bytes {
            drop(queue);
            then();
        } else {
            queue.drained.push(then);
        }
    }

    /// Moves up to `max` frames into `out`; pending (the waker kept) while none is queued.
    pub fn poll_take(&self, cx: &mut Context<'_>, max: usize, out: &mut Vec<Frame>) -> Poll<()> {
        let drained = {
            let mut queue = self.lock();
            if queue.frames.is_empty() {
                if !queue.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    queue.waker = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
            // Everything queued leaves with its allocation: an idle socket keeps no
            // capacity of its last burst.
            let taken: Vec<Frame> = if queue.frames.len() <= max {
                std::mem::take(&mut queue.frames).into()
            } else {
                queue.frames.drain(..max).collect()
            };
            queue.bytes -= taken.iter().map(Frame::cost).sum::<usize>();
            if out.is_empty() {
                *out = taken;
            } else {
                out.extend(taken);
            }
            if queue.bytes * 2 < self.max_bytes { std::mem::take(&mut queue.drained) } else { Vec::new() }
        };
        for then in drained {
            then();
        }
        Poll::Ready(())
    }

    /// Waits until frames are queued, then takes up to `max` of them.
    pub async fn take(&self, max: usize, out: &mut Vec<Frame>) {
        std::future::poll_fn(|cx| self.poll_take(cx, max, out)).await
    }

    /// The connection is gone: drop what is queued and refuse what comes.
    pub fn close(&self) {
        let mut queue = self.lock();
        queue.closed = true;
        queue.frames.clear();
        queue.bytes = 0;
        queue.drained.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_holds_its_id_and_the_id_as_json() {
        for id in ["1", "op \"quoted\" \\ é", ""] {
            let tag = Tag::new(id);
            assert_eq!(tag.id(), id);
            assert_eq!(tag.id_json(), serde_json::Value::from(id).to_string());
        }
        let tag = Tag::new("1");
        assert_eq!(tag.resume_cursor(), None, "unbound");
        let practice: Arc<str> = "prc_1".into();
        tag.bind(&practice);
        tag.written(7);
        let cursor = tag.resume_cursor().expect("bound and written");
        assert_eq!(Cursor::decode(&cursor).map(|c| (c.practice_id, c.seq)).ok(), Some(("prc_1".to_string(), 7)));
    }

    #[test]
    fn a_drained_queue_keeps_no_capacity_and_a_batch_takes_at_most_its_max() {
        let outbound = Outbound::new(1 << 20);
        let tags: Vec<_> = (0..10).map(|i| Tag::new(&i.to_string())).collect();
        for tag in &tags {
            assert!(outbound.push(Frame::Complete { tag: tag.clone() }));
        }
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut out = Vec::new();
        assert!(outbound.poll_take(&mut cx, 4, &mut out).is_ready());
        assert_eq!(out.iter().map(|f| f.tag().id()).collect::<Vec<_>>(), ["0", "1", "2", "3"]);
        assert!(outbound.poll_take(&mut cx, 64, &mut out).is_ready());
        let ids: Vec<_> = out.iter().map(|f| f.tag().id().to_string()).collect();
        assert_eq!(ids, (0..10).map(|i| i.to_string()).collect::<Vec<_>>(), "in order, none lost");
        let queue = outbound.lock();
        assert_eq!((queue.frames.capacity(), queue.bytes), (0, 0), "the burst's capacity left with it");
        drop(queue);
        assert!(outbound.poll_take(&mut cx, 64, &mut out).is_pending());
    }
}

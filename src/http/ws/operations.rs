//! The set of running operations of one connection, multiplexed into a single stream of
//! protocol-neutral outputs. All operation streams are polled by the connection task, so
//! dropping this set (connection end) cancels every operation at once, and stopping one
//! is an abort that guarantees it yields nothing afterwards.

use std::task::{Context, Poll};
use std::{collections::HashMap, sync::Arc};

use async_graphql::ServerError;
use futures_util::{
    StreamExt,
    stream::{self, AbortHandle, Abortable, BoxStream, SelectAll},
};

use super::config::{OpItem, Reply};
use super::encode::is_request_error;
use crate::hub::Tag;

/// What the connection has to tell the client about an operation.
pub(crate) enum Output {
    Next(String, Reply),
    /// Request error as the first result: reported once, the operation is over, and no
    /// `complete` follows (graphql-transport-ws `Error` semantics).
    Error(String, Vec<ServerError>),
    Complete(String),
    /// Nothing to tell: stopped operations were let go of, so the connection may read
    /// client messages again (see [`Operations::saturated`]).
    Reaped,
}

struct Tagged {
    id: Arc<str>,
    generation: u64,
    /// A result, or `None` once the operation's stream has ended.
    event: Option<OpItem>,
}

struct Active {
    generation: u64,
    /// Let go of once the operation's stream has ended (a registered one lives on in its
    /// hub, and `tag` stops it there).
    abort: Option<AbortHandle>,
    seen_first: bool,
    tag: Arc<Tag>,
    /// Set when a hub delivers the operation's results (through the outbound queue);
    /// dropping it unsubscribes.
    registration: Option<Box<dyn Send>>,
}

#[derive(Default)]
pub(crate) struct Operations {
    streams: SelectAll<BoxStream<'static, Tagged>>,
    active: HashMap<Box<str>, Active>,
    next_generation: u64,
}

impl Operations {
    /// How many operations are running.
    pub(crate) fn len(&self) -> usize {
        self.active.len()
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.active.contains_key(id)
    }

    /// Registers a new operation; the caller has already rejected duplicate ids.
    pub(crate) fn start(&mut self, id: String, tag: Arc<Tag>, responses: BoxStream<'static, OpItem>) {
        // The generation tells results of a stopped operation apart from those of a new
        // one reusing its id (belt and braces: aborted streams yield nothing anyway).
        let generation = self.next_generation;
        self.next_generation += 1;
        let name: Arc<str> = Arc::from(id.as_str());
        let finished_name = name.clone();
        let events = responses
            .map(move |response| Tagged { id: name.clone(), generation, event: Some(response) })
            .chain(stream::once(async move { Tagged { id: finished_name, generation, event: None } }));
        let (abort, registration) = AbortHandle::new_pair();
        self.streams.push(Abortable::new(events, registration).boxed());
        let active = Active { generation, abort: Some(abort), seen_first: false, tag, registration: None };
        self.active.insert(id.into_boxed_str(), active);
    }

    /// Stops an operation; returns whether it was running.
    pub(crate) fn stop(&mut self, id: &str) -> bool {
        match self.active.remove(id) {
            Some(active) => {
                active.tag.stop();
                if let Some(abort) = active.abort {
                    abort.abort();
                }
                true
            }
            None => false,
        }
    }

    /// A hub ended the operation behind `tag`: it is over (the id may be reused). Returns
    /// whether it was still running.
    pub(crate) fn finish(&mut self, tag: &Arc<Tag>) -> bool {
        let current = self.active.get(tag.id()).is_some_and(|active| Arc::ptr_eq(&active.tag, tag));
        if current {
            self.active.remove(tag.id());
        }
        current
    }

    /// The tags of the running operations.
    pub(crate) fn tags(&self) -> impl Iterator<Item = &Arc<Tag>> {
        self.active.values().map(|active| &active.tag)
    }

    /// Whether the connection holds more than `max` operations, running or stopped and
    /// not yet let go of (a stopped one's stream stays until polled once more). Refusing
    /// one more operation takes one (its refusal is an output still to write), so a
    /// connection reads nothing more while this holds: its outputs go first.
    pub(crate) fn saturated(&self, max: usize) -> bool {
        self.active.len().max(self.streams.len()) > max
    }

    /// Next output of any operation; pending forever while none is running.
    /// Cancel-safe: `SelectAll` loses no items between polls.
    pub(crate) async fn next(&mut self) -> Output {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Output> {
        let held = self.streams.len();
        loop {
            let tagged = match self.streams.poll_next_unpin(cx) {
                Poll::Ready(Some(tagged)) => tagged,
                // Stopped operations' streams ended and were dropped; nothing else is ready.
                _ if self.streams.len() < held => return Poll::Ready(Output::Reaped),
                // Empty: a new operation comes with a new turn of the connection loop.
                _ => return Poll::Pending,
            };
            if let Some(output) = self.output(tagged) {
                return Poll::Ready(output);
            }
        }
    }

    /// What the client is told of one item of an operation's stream, if anything.
    fn output(&mut self, Tagged { id, generation, event }: Tagged) -> Option<Output> {
        let active = self.active.get_mut(&*id)?;
        if active.generation != generation {
            return None;
        }
        Some(match event {
            Some(OpItem::Registered(registration)) => {
                active.registration = Some(registration);
                return None;
            }
            Some(OpItem::Reply(reply)) => {
                let first = !active.seen_first;
                active.seen_first = true;
                match reply {
                    Reply::Response(mut response) if first && is_request_error(&response) => {
                        self.stop(&id);
                        Output::Error(id.to_string(), std::mem::take(&mut response.errors))
                    }
                    reply => Output::Next(id.to_string(), reply),
                }
            }
            // A registered operation goes on in its hub after its stream ended.
            None if active.registration.is_some() => {
                active.abort = None;
                return None;
            }
            None => {
                // Finished by itself: the id becomes free for reuse.
                self.active.remove(&*id);
                Output::Complete(id.to_string())
            }
        })
    }
}

//! What a practice hub holds per subscriber: where its frames go and what they are counted
//! and audited under; a live query's subscriber also keeps what it has had of the results.

use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;

use super::metered::Metered;
use super::outbound::{Outbound, Tag};
use crate::live::Format;

/// One subscriber of a shared subscription: where its frames go.
#[derive(Clone)]
pub(super) struct Subscriber {
    pub tag: Arc<Tag>,
    pub outbound: Arc<Outbound>,
    pub delivered: Counter,
    pub metered: Arc<Metered>,
}

/// One subscriber of a live query.
pub(super) struct LiveQuerySubscriber {
    pub tag: Arc<Tag>,
    pub outbound: Arc<Outbound>,
    pub delivered: Counter,
    pub metered: Arc<Metered>,
    pub format: Format,
    /// The revision it already has (it resumes).
    pub after: Option<i64>,
    /// jsondiffpatch results sent since its last whole one (n1ru4l's `revision`).
    pub sent: u64,
    pub state: ResultState,
}

impl LiveQuerySubscriber {
    pub fn new(
        tag: Arc<Tag>,
        outbound: Arc<Outbound>,
        delivered: Counter,
        metered: Arc<Metered>,
        format: Format,
        after: Option<i64>,
    ) -> Self {
        Self { tag, outbound, delivered, metered, format, after, sent: 0, state: ResultState::Waiting }
    }
}

/// Where a live query's subscriber stands against the query's current result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResultState {
    /// No result yet.
    Waiting,
    /// It has the current result (or, after `sent == 0`, needs a whole one next).
    InSync,
    /// Its queue was full: it gets the current result once it drains.
    Behind,
    /// Its resume point is being checked against the log.
    Checking,
    /// Over the practice's daily deliveries: it gets the current result once they allow.
    Held,
}

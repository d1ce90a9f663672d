//! A practice hub's live queries. Each distinct live query (document, variables, scope:
//! the same [`OperationKey`] as shared subscriptions) is one operation, executed once per
//! change whatever its number of subscribers:
//!
//! - an event of the practice marks dirty the operations whose last result it can change
//!   (`live::Reads`: the resources the result was made of);
//! - a dirty operation re-executes at once, or when its throttle allows (at most one run
//!   per `throttle`, one at a time); whatever arrives meanwhile is in the next run, so the
//!   last state is never skipped;
//! - a result is sent only when its bytes changed, tagged with the practice seq the hub
//!   had reached when the run began (`extensions.revision`): everything up to it is in it.
//!
//! A subscriber past its connection's byte bound skips the intermediate results and gets
//! the current one when its queue drains. One that resumes from a revision gets the
//! current result only if it changed since. Each result sent is one delivery of the
//! practice's `maxDeliveriesPerDay`: past it a subscriber is held, and gets the current
//! result once the quota allows. Each result sent counts, in the audit trail, as a
//! delivery of every patient the run touched.
//!
//! This file holds what the hub keeps of them; `live_runs` executes them and publishes
//! their results, `live_subscribers` adds, removes and catches up their subscribers.

use async_graphql::Variables;
use async_graphql::parser::types::ExecutableDocument;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use indexmap::IndexMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use super::budget::Budget;
use super::key::OperationKey;
use super::messages::RegistrationId;
use super::registrations::LiveQuerySubscriber;
use crate::live::Reads;

#[derive(Default)]
pub(super) struct LiveQueries {
    pub by_id: HashMap<u64, LiveQuery>,
    pub by_key: HashMap<OperationKey, u64>,
    /// Runs, throttle waits, resume checks and reservations under way.
    pub work: FuturesUnordered<BoxFuture<'static, Work>>,
    /// Their share of `maxDeliveriesPerDay`, and whether a reservation is under way.
    pub budget: Budget,
    pub reserving: bool,
}

pub(super) struct LiveQuery {
    pub key: OperationKey,
    pub document: Arc<ExecutableDocument>,
    pub variables: Variables,
    pub arguments: Reads,
    /// What the last result was made of; None before the first.
    pub reads: Option<Reads>,
    pub throttle: Duration,
    pub subscribers: IndexMap<u64, LiveQuerySubscriber>,
    pub current: Option<Current>,
    /// The revision of the first result, and of the last change after it.
    pub born: i64,
    pub changed_at: Option<i64>,
    pub running: bool,
    pub dirty: bool,
    /// The trace of the last event that made it dirty (traced only), for its run's span.
    pub cause: Option<crate::telemetry::TraceContext>,
    pub waking: bool,
    pub last_run: Option<Instant>,
    pub failures: u32,
}

/// A live query's last result.
pub(super) struct Current {
    /// The `data` as JSON, for deltas, and as text, to tell whether it changed.
    pub data: serde_json::Value,
    pub text: String,
    pub revision: i64,
    /// The whole result, and the first jsondiffpatch one.
    pub full: Arc<str>,
    pub reset: Arc<str>,
    /// The patients the run touched (of this practice), for the audit trail.
    pub patients: Arc<[String]>,
}

/// Work of the live queries that finished.
pub(super) enum Work {
    Ran {
        op: u64,
        revision: i64,
        result: Result<Run, String>,
    },
    /// `amount` deliveries of `day` reserved for held subscribers (0: not yet).
    Reserved {
        day: i64,
        amount: i64,
    },
    Wake {
        op: u64,
    },
    Checked {
        id: RegistrationId,
        changed: bool,
    },
}

/// A run's result: its data, what it was made of, the patients it touched.
pub(super) struct Run {
    pub data: serde_json::Value,
    pub reads: Reads,
    pub patients: Vec<String>,
}

impl LiveQueries {
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

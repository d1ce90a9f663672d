//! Subscriptions that run on their own — the hub could not share them (several root
//! fields, or their shared execution would not start) — are metered and audited here as
//! the hub meters its own: the start is a subscription operation and an open
//! subscription, SUBSCRIBE and UNSUBSCRIBE are recorded with the filter, and each result
//! is one delivery of its transport and one DELIVER for every patient it touched. Past
//! the practice's `maxDeliveriesPerDay` the next result waits until the quota allows.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::{Actor, Recorder, Touched, Watch};
use crate::auth::Principal;
use crate::limits::Limits;
use crate::usage::{Held, Meter, OpKind, UsageKey};
use crate::vocab::Transport;

/// How often a result held over the daily quota asks again.
const HELD_RECHECK: Duration = Duration::from_secs(1);

/// A practice's share of the subscription: who is counted, its open guard, its watch.
struct Practice {
    who: Arc<UsageKey>,
    _open: Held,
    watch: Watch,
}

/// What a subscription running on its own is metered, audited and held back with.
pub(super) struct Meters {
    pub usage: Arc<Meter>,
    pub audit: Arc<Recorder>,
    pub limits: Arc<Limits>,
}

pub(super) struct Watched {
    meters: Meters,
    principal: Principal,
    door: Transport,
    operation_name: Option<String>,
    filter: String,
    /// What the resolvers of each result touched (the request holds a clone).
    touched: Touched,
    /// A practice key's own practice, from the start; a global ADMIN's practices as its
    /// results touch them.
    practices: HashMap<String, Practice>,
}

impl Watched {
    pub(super) fn start(
        meters: Meters,
        principal: &Principal,
        door: Transport,
        operation_name: Option<String>,
        filter: String,
        touched: Touched,
    ) -> Self {
        let mut watched = Self {
            meters,
            principal: principal.clone(),
            door,
            operation_name,
            filter,
            touched,
            practices: HashMap::new(),
        };
        if let Some(practice_id) = principal.practice_id() {
            watched.practice(practice_id);
        }
        watched
    }

    /// Starts counting the subscription under `practice_id`, once.
    fn practice(&mut self, practice_id: &str) {
        if self.practices.contains_key(practice_id) {
            return;
        }
        let (usage, audit) = (&self.meters.usage, &self.meters.audit);
        let who = usage.key(practice_id, self.principal.usage_key().as_deref());
        usage.operation(&who, OpKind::Subscription);
        let actor = Actor::of(&self.principal, self.door, self.operation_name.as_deref());
        let watch = audit.watch(practice_id, actor, Some(self.filter.clone()), false);
        let practice = Practice { _open: usage.subscription(who.clone()), who, watch };
        self.practices.insert(practice_id.to_string(), practice);
    }

    /// A result is ready: what it touched, and the practices it counts for (the key's
    /// own; a global ADMIN's: each practice it touched).
    pub(super) fn result(&mut self) -> Ready {
        let touched = self.touched.take();
        let counted = match self.principal.practice_id() {
            Some(own) => vec![own.to_string()],
            None => touched.iter().map(|(practice_id, _)| practice_id.clone()).collect(),
        };
        Ready { touched, counted, limits: self.meters.limits.clone() }
    }

    /// The result went to the transport: a delivery for each practice it counts for, a
    /// DELIVER for each patient it touched.
    pub(super) fn delivered(&mut self, result: Ready) {
        for practice_id in result.counted.iter().chain(result.touched.iter().map(|(p, _)| p)) {
            self.practice(practice_id);
        }
        for practice_id in &result.counted {
            self.meters.usage.delivered_result(&self.practices[practice_id].who, self.door);
        }
        for (practice_id, patients) in &result.touched {
            let practice = &self.practices[practice_id];
            for patient in patients {
                practice.watch.delivered(patient);
            }
        }
    }
}

/// A result on its way out.
pub(super) struct Ready {
    touched: Vec<(String, Vec<String>)>,
    counted: Vec<String>,
    limits: Arc<Limits>,
}

impl Ready {
    /// Waits until each practice it counts for has a delivery of today left under
    /// `maxDeliveriesPerDay` (and takes it). Nothing is lost meanwhile: the stream is not
    /// read, and its feed catches up from the log when it is again.
    pub(super) async fn allowed(&self) {
        for practice_id in &self.counted {
            while let Some(max) = self.limits.quota(practice_id).await.max_deliveries_per_day
                && self.limits.reserve_deliveries_under(practice_id, 1, Some(max)).await.is_err()
            {
                tokio::time::sleep(HELD_RECHECK).await;
            }
        }
    }
}

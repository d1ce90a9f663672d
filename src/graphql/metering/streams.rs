//! Subscriptions that run on their own — the hub could not share them (several root
//! fields, or their shared execution would not start) — are metered and audited here as
//! the hub meters its own: the start is a subscription operation and an open
//! subscription, SUBSCRIBE and UNSUBSCRIBE are recorded with the filter, and each result
//! is one delivery of its transport and one DELIVER for every patient it touched.

use std::collections::HashMap;

use crate::audit::{Actor, Touched, Watch};
use crate::auth::Principal;
use crate::domain::Services;
use crate::usage::{Held, OpKind, Who};
use crate::vocab::Transport;

/// A practice's share of the subscription: who is counted, its open guard, its watch.
struct Practice {
    who: Who,
    _open: Held,
    watch: Watch,
}

pub(super) struct Watched {
    services: Services,
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
        services: &Services,
        principal: &Principal,
        door: Transport,
        operation_name: Option<String>,
        filter: String,
        touched: Touched,
    ) -> Self {
        let mut watched = Self {
            services: services.clone(),
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
        let (usage, audit) = (&self.services.usage, &self.services.audit);
        let who = Who::new(practice_id, self.principal.key_id());
        usage.operation(&who, OpKind::Subscription);
        let actor = Actor::of(&self.principal, self.door, self.operation_name.as_deref());
        let watch = audit.watch(practice_id, actor, Some(self.filter.clone()), false);
        let practice = Practice { _open: usage.subscription(who.clone()), who, watch };
        self.practices.insert(practice_id.to_string(), practice);
    }

    /// One result went to the transport: a delivery for the key's practice (a global
    /// ADMIN's: for each practice it touched), a DELIVER for each patient it touched.
    pub(super) fn delivered(&mut self) {
        let touched = self.touched.take();
        for (practice_id, _) in &touched {
            self.practice(practice_id);
        }
        let counted: Vec<&str> = match self.principal.practice_id() {
            Some(own) => vec![own],
            None => touched.iter().map(|(practice_id, _)| practice_id.as_str()).collect(),
        };
        for practice_id in counted {
            if let Some(practice) = self.practices.get(practice_id) {
                self.services.usage.delivered_result(&practice.who, self.door);
            }
        }
        for (practice_id, patients) in &touched {
            let practice = &self.practices[practice_id];
            for patient in patients {
                practice.watch.delivered(patient);
            }
        }
    }
}

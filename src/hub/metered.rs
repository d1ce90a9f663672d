//! What a registration's deliveries are metered and audited under: its practice, key and
//! transport (usage, per event type), and its audit watch (per-patient DELIVER counts,
//! SUBSCRIBE when it starts, UNSUBSCRIBE when the hub lets it go).

use std::sync::Arc;

use crate::audit::{Actor, Recorder, Watch};
use crate::auth::Principal;
use crate::events::StoredEvent;
use crate::usage::{Held, Meter, OpKind, UsageKey};
use crate::vocab::Transport as Door;

pub(super) struct Metered {
    usage: Arc<Meter>,
    who: Arc<UsageKey>,
    door: Door,
    watch: Watch,
}

impl Metered {
    /// A subscription (or live query) of `principal` on `practice_id`'s hub: counts its
    /// start and records SUBSCRIBE with its filter.
    pub(super) fn start(
        usage: &Arc<Meter>,
        audit: &Arc<Recorder>,
        principal: &Principal,
        practice_id: &str,
        door: Door,
        operation_name: Option<&str>,
        filter: String,
    ) -> Arc<Self> {
        let who = usage.key(practice_id, principal.usage_key().as_deref());
        usage.operation(&who, OpKind::Subscription);
        let actor = Actor::of(principal, door, operation_name);
        let watch = audit.watch(practice_id, actor, Some(filter), false);
        Arc::new(Self { usage: usage.clone(), who, door, watch })
    }

    /// The practice, shared with every other holder of its usage key.
    pub(super) fn practice_id(&self) -> &Arc<str> {
        &self.who.practice_id
    }

    /// Open until the returned guard drops (peak subscriptions).
    pub(super) fn open(&self) -> Held {
        self.usage.subscription(self.who.clone())
    }

    /// An event was queued for this subscriber.
    pub(super) fn delivered(&self, event: &StoredEvent) {
        self.usage.delivered_to(&self.who, self.door, event.event_type);
        self.watch.delivered(event.payload.patient_id());
    }

    /// A live query's result, made of `patients`' data, was queued for this subscriber
    /// (not one event's: usage counts it under its transport only).
    pub(super) fn delivered_result(&self, patients: &[String]) {
        self.usage.delivered_result(&self.who, self.door);
        for patient in patients {
            self.watch.delivered(patient);
        }
    }
}

/// The door a hub subscriber came through (the hub's `Http` is multipart's).
pub(super) fn door(transport: crate::events::StreamTransport) -> Door {
    match transport {
        crate::events::StreamTransport::Websocket => Door::Websocket,
        crate::events::StreamTransport::Sse => Door::Sse,
        crate::events::StreamTransport::Multipart => Door::Multipart,
        crate::events::StreamTransport::LongPolling => Door::LongPolling,
        crate::events::StreamTransport::Grpc => Door::Grpc,
    }
}

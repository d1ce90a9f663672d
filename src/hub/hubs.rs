//! The replica's hubs, one per practice with subscribers here, and the way in: a
//! subscription is probed (authorised, validated, its start point fixed — exactly as if
//! it ran on its own), keyed, and registered with its practice's hub, which serves every
//! registration of the same key from one execution.

use async_graphql::{Data, Executor, Request, Response};
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::key::{OperationKey, Scope};
use super::messages::{HubCommand, RegistrationId, SubscriptionInstall};
use super::metered::{Metered, door};
use super::outbound::{Outbound, Tag};
use super::practice::PracticeHub;
use super::producer::Prepared;
use super::registrations::Subscriber;
use super::shared::{LiveThrottle, Shared};
use crate::audit::Recorder;
use crate::auth::{Auth, Principal};
use crate::domain::Services;
use crate::events::{GaugeGuard, StreamTransport, TransportLabel};
use crate::graphql::shared_feed::Probe;
use crate::graphql::{AppSchema, operation_name};
use crate::live::Types;
use crate::usage::Meter;

/// How long a hub without registrations stays, so a client that reconnects at once finds
/// it subscribed; short, since an idle practice should cost nothing (not even its bus
/// channel).
const LINGER: Duration = Duration::from_millis(250);
/// Subscriptions being started at once. A start holds a whole execution (parsed document,
/// validation, a log read) for a moment; thousands started together would each hold one,
/// and the allocator keeps that high-water mark long after. Waiting ones should hold only
/// their request: a door that would hold more while it waits takes its [`Turn`] first.
const CONCURRENT_STARTS: usize = 32;

/// A subscription to start, as a connection hands it over.
pub struct Subscribe {
    pub request: Request,
    pub principal: Principal,
    /// The connection's session data, for an operation that runs on its own.
    pub session: Option<Arc<Data>>,
    /// Replaces the subscription's `after` (SSE's `Last-Event-ID`).
    pub after: Option<String>,
    pub transport: StreamTransport,
    /// The start's turn, if the door took it before it made the start; else the hub
    /// takes one just before the probe.
    pub turn: Option<Turn>,
}

/// One of the replica's [`CONCURRENT_STARTS`] turns to start a subscription, let go of
/// once its probe ran.
pub struct Turn {
    _permit: Option<OwnedSemaphorePermit>,
}

/// How a subscription runs. Made once per subscription and taken apart at once.
#[allow(clippy::large_enum_variant)]
pub enum Subscribed {
    /// Its results arrive in the connection's outbound queue; dropping the registration
    /// unsubscribes.
    Registered(Registration),
    /// Its own results: a request error, or a subscription the hub cannot serve.
    Running(BoxStream<'static, Response>),
    /// Not for the hub (not a single-field subscription, or its shared execution could
    /// not start): the request, to run the way the transport runs anything else.
    Unshared(Request),
}

/// A subscription held by a hub. Dropping it stops delivery and frees the registration.
pub struct Registration {
    hub: mpsc::UnboundedSender<HubCommand>,
    id: RegistrationId,
    tag: Arc<Tag>,
    _open: GaugeGuard,
    _metered: crate::usage::Held,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.tag.stop();
        let _ = self.hub.send(HubCommand::Remove(self.id));
    }
}

#[derive(Clone)]
pub struct Hubs(pub(super) Arc<Shared>);

impl Hubs {
    pub fn new(
        schema: AppSchema,
        services: Services,
        usage: Arc<Meter>,
        audit: Arc<Recorder>,
        stop: CancellationToken,
        tracker: TaskTracker,
        live_throttle: LiveThrottle,
    ) -> Self {
        let starts = Arc::new(Semaphore::new(CONCURRENT_STARTS));
        let types = Types::from_sdl(&schema.sdl());
        let hubs = Mutex::default();
        let linger = LINGER;
        Self(Arc::new(Shared {
            schema,
            services,
            usage,
            audit,
            stop,
            linger,
            tracker,
            hubs,
            starts,
            types,
            live_throttle,
        }))
    }

    /// The practice's hub, started if it has none.
    pub(super) fn hub(&self, practice_id: &str) -> mpsc::UnboundedSender<HubCommand> {
        let mut hubs = self.0.hubs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hub) = hubs.get(practice_id).filter(|hub| !hub.is_closed()) {
            return hub.clone();
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        let hub = PracticeHub::new(practice_id.to_string(), self.0.clone(), sender.clone());
        self.0.tracker.spawn(hub.run(receiver));
        hubs.insert(practice_id.to_string(), sender.clone());
        sender
    }

    /// Practices with a hub on this replica (for tests and metrics).
    pub fn practices(&self) -> usize {
        self.0.hubs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A turn to start a subscription, once one is free (first come, first served).
    pub async fn turn(&self) -> Turn {
        // The semaphore is never closed, so acquiring never fails.
        Turn { _permit: self.0.starts.clone().acquire_owned().await.ok() }
    }

    /// The turn a start already waited for, or one it waits for now.
    pub(super) async fn turn_unless_taken(&self, taken: Option<Turn>) -> Turn {
        match taken {
            Some(turn) => turn,
            None => self.turn().await,
        }
    }

    /// Starts a subscription whose results go to `outbound` under `tag`.
    pub async fn subscribe(&self, subscribe: Subscribe, outbound: &Arc<Outbound>, tag: &Arc<Tag>) -> Subscribed {
        let Subscribe { mut request, principal, session, after, transport, turn } = subscribe;
        match crate::graphql::live_query(&mut request) {
            Ok(None) => {}
            Ok(Some(live)) => {
                let subscribe = Subscribe { request, principal, session, after, transport, turn };
                return self.subscribe_live(subscribe, live, outbound, tag).await;
            }
            Err(reason) => return refused(reason),
        }
        let Some(key) = OperationKey::of(&mut request, Scope::of(&principal)) else {
            // Runs on its own, from the parsed document: bring root fields written inside
            // fragments up to the root, where the executor starts their streams.
            crate::graphql::hoist_root_fields(&mut request);
            return Subscribed::Unshared(request);
        };
        // What the audit trail records it under.
        let filter = crate::audit::filter(&request.query, &request.variables);
        let operation_name = operation_name(&mut request);
        // Only subscriptions wait their turn, not the queries and mutations a socket sends.
        let _turn = self.turn_unless_taken(turn).await;
        let prepared = Prepared { key, variables: request.variables.clone() };
        let rebuild = Rebuild(prepared.clone());
        // The probe runs with the subscriber's own credentials and session: its errors,
        // and its start point, are the subscriber's.
        let (probe, found) = Probe::new(after);
        let mut results =
            Executor::execute_stream(&self.0.schema, request.data(Auth(Some(principal.clone()))).data(probe), session);
        let spec = tokio::select! {
            spec = found => spec,
            first = results.next() => {
                let first = stream::iter(first);
                return Subscribed::Running(first.chain(results).boxed());
            }
        };
        drop(results);
        let Ok(spec) = spec else { return Subscribed::Unshared(rebuild.request()) };
        // The hub reads the quota only from the cache (`Limits::quota_now`): fill it here.
        self.0.services.limits.quota(&spec.practice_id).await;
        let counters = &self.0.services.counters;
        let label = TransportLabel::of(transport);
        let metered = Metered::start(
            &self.0.usage,
            &self.0.audit,
            &principal,
            &spec.practice_id,
            door(transport),
            operation_name.as_deref(),
            filter,
        );
        tag.bind(metered.practice_id());
        let subscriber = Subscriber {
            tag: tag.clone(),
            outbound: outbound.clone(),
            delivered: counters.delivered.get_or_create(&label).clone(),
            metered: metered.clone(),
        };
        let install = SubscriptionInstall { prepared, filter: spec.filter, subscriber, start: spec.start };
        // A hub that retired just as we reached it drops the install: ask a new one.
        for _ in 0..3 {
            let hub = self.hub(&spec.practice_id);
            let (ack, acked) = oneshot::channel();
            if hub.send(HubCommand::Install(install.clone(), ack)).is_err() {
                continue;
            }
            match acked.await {
                Ok(Ok(id)) => {
                    return self.registered(hub, id, tag, &label, &metered);
                }
                Ok(Err(reason)) => {
                    tracing::debug!(reason, "subscription runs on its own");
                    return Subscribed::Unshared(rebuild.request());
                }
                Err(_) => continue,
            }
        }
        Subscribed::Unshared(rebuild.request())
    }
}

impl Hubs {
    /// A subscription the practice's hub has installed.
    pub(super) fn registered(
        &self,
        hub: mpsc::UnboundedSender<HubCommand>,
        id: RegistrationId,
        tag: &Arc<Tag>,
        label: &TransportLabel,
        metered: &Metered,
    ) -> Subscribed {
        let open = GaugeGuard::hold(self.0.services.counters.subscriptions.get_or_create(label).clone());
        let _metered = metered.open();
        Subscribed::Registered(Registration { hub, id, tag: tag.clone(), _open: open, _metered })
    }
}

/// A request the hub refuses, as its only response.
pub(super) fn refused(reason: String) -> Subscribed {
    let response = Response::from_errors(vec![bad_user_input(reason)]);
    Subscribed::Running(stream::once(async move { response }).boxed())
}

fn bad_user_input(message: String) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new(message, None);
    crate::graphql::fill_code(&mut error); // BAD_USER_INPUT
    error
}

/// The subscriber's request again, for when it has to run on its own after all (the
/// transport adds its credentials, as to any request).
struct Rebuild(Prepared);

impl Rebuild {
    fn request(self) -> Request {
        let Prepared { key, variables } = self.0;
        let request = Request::new(key.query).variables(variables);
        match key.operation_name {
            Some(name) => request.operation_name(name),
            None => request,
        }
    }
}

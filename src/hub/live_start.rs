//! How `Hubs` starts a live query: it runs once as the subscriber (so its errors are the
//! subscriber's, and it says which practice it reads), then that practice's hub serves it
//! from the resume point the client handed back.

use async_graphql::{Executor, Request};
use futures_util::StreamExt;
use futures_util::stream;
use std::sync::Arc;
use tokio::sync::oneshot;

use super::hubs::{Hubs, Subscribe, Subscribed, refused};
use super::key::{OperationKey, Scope};
use super::messages::{HubCommand, LiveQueryInstall};
use super::metered::{Metered, door};
use super::outbound::{Outbound, Tag};
use super::registrations::LiveQuerySubscriber;
use crate::auth::{Auth, Grant};
use crate::events::{Cursor, TransportLabel};
use crate::graphql::operation_name;
use crate::live::{Live, Reads, parse_revision};

impl Hubs {
    /// Starts a live query. It runs once as the subscriber (its errors, `NOT_FOUND` for
    /// another practice's data, are the subscriber's and end it), which also says which
    /// practice it reads; then that practice's hub serves it.
    pub(super) async fn subscribe_live(
        &self,
        subscribe: Subscribe,
        live: Live,
        outbound: &Arc<Outbound>,
        tag: &Arc<Tag>,
    ) -> Subscribed {
        let Subscribe { mut request, principal, after, transport, turn, .. } = subscribe;
        let filter = crate::audit::filter(&request.query, &request.variables);
        let display_name = operation_name(&mut request);
        let after = match after {
            Some(text) => match resume_revision(&text) {
                Some(revision) => Some(revision),
                None => return refused(format!("Last-Event-ID {text:?} is not a live query revision")),
            },
            None => live.after,
        };
        let throttle = live.throttle.unwrap_or(self.0.live_throttle.default).min(self.0.live_throttle.max);
        let name = request.operation_name.clone();
        let Ok(document) = request.parsed_query() else { return Subscribed::Unshared(request) };
        let mut document = document.clone();
        self.0.types.instrument(&mut document, name.as_deref());
        let arguments = Reads::of_arguments(&document, name.as_deref(), &request.variables);
        let key = OperationKey::live(&request, Scope::of(&principal));
        let variables = request.variables.clone();
        let document = Arc::new(document);
        let turn = self.turn_unless_taken(turn).await;
        let mut probe =
            Request::new(request.query.clone()).variables(variables.clone()).data(Auth(Some(principal.clone())));
        probe.operation_name = name.clone();
        probe.set_parsed_query((*document).clone());
        let mut response = Executor::execute(&self.0.schema, probe).await;
        drop(turn);
        let mut reads = arguments.clone();
        reads.collect(&mut response.data);
        if !response.errors.is_empty() {
            return Subscribed::Running(stream::once(async move { response }).boxed());
        }
        let practice_id = match (&key.scope.0, reads.practices.len()) {
            (Grant::Practice { practice_id, .. } | Grant::Patient { practice_id, .. }, _) => practice_id.clone(),
            (Grant::Admin, 1) => reads.practices.iter().next().cloned().unwrap_or_default(),
            (Grant::Admin, n) => {
                return refused(format!(
                    "a live query follows one practice's log; this one reads {n} practices' data (send one per practice)"
                ));
            }
        };
        self.0.services.limits.quota(&practice_id).await;
        let counters = &self.0.services.counters;
        let label = TransportLabel::of(transport);
        let delivered = counters.delivered.get_or_create(&label).clone();
        let metered = Metered::start(
            &self.0.usage,
            &self.0.audit,
            &principal,
            &practice_id,
            door(transport),
            display_name.as_deref(),
            filter,
        );
        tag.bind(metered.practice_id());
        for _ in 0..3 {
            let subscriber = LiveQuerySubscriber::new(
                tag.clone(),
                outbound.clone(),
                delivered.clone(),
                metered.clone(),
                live.format,
                after,
            );
            let install = LiveQueryInstall {
                key: key.clone(),
                document: document.clone(),
                variables: variables.clone(),
                arguments: arguments.clone(),
                throttle,
                subscriber,
            };
            let hub = self.hub(&practice_id);
            let (ack, acked) = oneshot::channel();
            if hub.send(HubCommand::InstallLiveQuery(install, ack)).is_err() {
                continue;
            }
            if let Ok(Ok(id)) = acked.await {
                return self.registered(hub, id, tag, &label, &metered);
            }
        }
        refused("the live query could not start; try again".to_string())
    }
}

/// Where a live query resumes from, as a client hands it back: the revision, or an
/// event cursor (its seq).
fn resume_revision(text: &str) -> Option<i64> {
    parse_revision(text).or_else(|| Cursor::decode(text).ok().map(|cursor| cursor.seq))
}

//! `Events/Subscribe`: who asks (the `authorization` metadata, through the resolver every
//! door uses), what they ask (checked here, so a refusal is a status before the stream
//! opens), and the stream itself — a subscription to the practice's hub, held like an SSE
//! stream (`http::streamed`): byte-bounded queue, catch-up from the log when behind,
//! metered and audited under the GRPC door, ended on revocation and on drain.

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::sync::Arc;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::proto::{Event, Events, SubscribeRequest};
use super::{event, status};
use crate::auth::{Principal, bearer};
use crate::domain::{Rejected, validate};
use crate::events::{Cursor, StreamTransport, start_seq};
use crate::http::streamed::{End, QuotaSlots, Resume, Source, Step, hold, through_hub};
use crate::state::AppState;
use crate::vocab::EventType;

/// The one GraphQL operation every gRPC stream runs through its practice's hub: the hub
/// shares its execution between all gRPC subscribers of the same practice and types, and
/// hands over each stored event, which `event::of` turns into the message.
const OPERATION: &str = "subscription Grpc($practiceId: ID!, $types: [EventType!]) { events(practiceId: $practiceId, types: $types) { cursor } }";

pub(super) struct EventsService {
    state: AppState,
}

impl EventsService {
    pub(super) fn new(state: AppState) -> Self {
        Self { state }
    }

    async fn authenticate(&self, metadata: &MetadataMap) -> Result<Principal, Status> {
        let presented = metadata.get("authorization").and_then(|v| v.to_str().ok()).and_then(bearer);
        let Some(presented) = presented else { return Err(status::unauthenticated()) };
        match self.state.services.domain.authenticate(presented).await {
            Ok(principal) => Ok(principal),
            Err(Rejected::UnknownKey) => Err(status::unauthenticated()),
            Err(Rejected::InvalidToken(reason)) => {
                tracing::info!(reason, "grpc: an access token was refused");
                Err(Status::unauthenticated(
                    "the access token is not valid (expired, not for this API, or not signed by the issuer)",
                ))
            }
            Err(Rejected::NoScope(reason)) => {
                Err(Status::permission_denied(format!("the access token grants no access here: {reason}")))
            }
            Err(Rejected::Lookup(err)) => {
                tracing::error!(error = %err, "grpc: authentication lookup failed");
                Err(Status::unavailable("the credential could not be checked; try again"))
            }
        }
    }
}

/// A request, checked: the practice, the types (None: all) and the cursor to resume after.
struct Asked {
    practice_id: String,
    types: Option<Vec<EventType>>,
    after: Option<Cursor>,
}

impl Asked {
    /// Checks `request` for `principal`: a malformed field is INVALID_ARGUMENT, another
    /// practice NOT_FOUND (checked before the cursor, so a cursor tells nothing of it).
    fn read(request: &SubscribeRequest, principal: &Principal) -> Result<Self, Status> {
        let practice_id = validate::id("practiceId", &request.practice_id).map_err(|e| status::of(&e))?;
        principal.read(practice_id, "practice").map_err(|e| status::of(&e))?;
        let mut types = Vec::new();
        for name in &request.types {
            let Some(parsed) = EventType::parse(name) else {
                let shown: String = name.chars().take(64).collect();
                let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                return Err(Status::invalid_argument(format!(
                    "unknown event type {shown:?}; the types are {}",
                    known.join(", ")
                )));
            };
            if !types.contains(&parsed) {
                types.push(parsed);
            }
        }
        let after = match request.after.as_str() {
            "" => None,
            text => Some(Cursor::decode_for(text, practice_id).map_err(|e| status::of(&e))?),
        };
        let types = (!types.is_empty()).then_some(types);
        Ok(Self { practice_id: practice_id.to_string(), types, after })
    }

    fn graphql(&self) -> async_graphql::Request {
        let types = self.types.as_ref().map(|types| types.iter().map(|t| t.as_str()).collect::<Vec<_>>());
        let variables = serde_json::json!({ "practiceId": self.practice_id, "types": types });
        async_graphql::Request::new(OPERATION).variables(async_graphql::Variables::from_json(variables))
    }
}

#[tonic::async_trait]
impl Events for EventsService {
    type SubscribeStream = BoxStream<'static, Result<Event, Status>>;

    #[tracing::instrument(skip_all, name = "grpc_subscribe")]
    async fn subscribe(&self, request: Request<SubscribeRequest>) -> Result<Response<Self::SubscribeStream>, Status> {
        let state = &self.state;
        let principal = self.authenticate(request.metadata()).await?;
        let limits = &state.services.domain.limits;
        limits.allow(&principal.limit_key()).await.map_err(status::rate_limited)?;
        let asked = Asked::read(request.get_ref(), &principal)?;
        // An expired cursor (OUT_OF_RANGE) or an unknown practice (NOT_FOUND) is refused
        // here, before anything is held; the hub checks the same again as it starts.
        let cursor = asked.after.clone();
        Box::pin(start_seq(&state.services.domain.db, &asked.practice_id, cursor)).await.map_err(|e| status::of(&e))?;
        // The key's connection cap (every replica, with Redis) and the practice's quotas.
        let max = state.config.max_connections_per_key;
        let scope = crate::limits::Scope::KeyConnections(principal.limit_key().into_owned());
        let Ok(key_slot) = limits.slots.take(&scope, Some(max)).await else {
            return Err(Status::resource_exhausted(format!("this API key already holds {max} connections")));
        };
        let practice_slots = match principal.practice_id() {
            Some(practice) => vec![
                limits.connect(practice).await.map_err(|e| status::of(&e))?,
                limits.subscribe(practice).await.map_err(|e| status::of(&e))?,
            ],
            None => Vec::new(),
        };
        let after = request.get_ref().after.clone();
        let after = (!after.is_empty()).then_some(after);
        let results = match through_hub(state, asked.graphql(), after, principal.clone(), StreamTransport::Grpc).await {
            Source::Shared(results) => results.map(|(_, resume)| message(&resume)).boxed(),
            Source::Own(responses) => responses.filter_map(|response| async move { refusal(&response) }).boxed(),
            Source::Unshared(_) => {
                return Err(Status::unavailable("the practice's event hub could not take the stream; try again"));
            }
        };
        let slots = Arc::new((key_slot, practice_slots));
        let held = hold(state, StreamTransport::Grpc, principal, QuotaSlots::none(), results);
        let events = held
            .scan(false, move |ended, step| {
                let _slots = &slots;
                let item = match step {
                    _ if *ended => None,
                    Step::Item(Ok(event)) => Some(Ok(event)),
                    Step::Item(Err(status)) => {
                        *ended = true;
                        Some(Err(status))
                    }
                    Step::End(End::Completed) => None,
                    Step::End(End::Revoked(reason)) => {
                        Some(Err(Status::unauthenticated(format!("the credential is no longer valid ({reason})"))))
                    }
                    Step::End(End::Draining) => Some(Err(Status::unavailable(
                        "the server is shutting down: resume on another replica with `after` set to the last cursor received",
                    ))),
                };
                std::future::ready(item)
            })
            .boxed();
        Ok(Response::new(events))
    }
}

/// The message for one result the hub queued (a live query's revision cannot occur: the
/// operation is a plain subscription).
fn message(resume: &Resume) -> Result<Event, Status> {
    match resume {
        Resume::Event(stored) => event::of(stored).map_err(|err| {
            tracing::error!(error = %err, "grpc: an event could not be encoded");
            Status::internal("internal error")
        }),
        Resume::Revision(_) => Err(Status::internal("internal error")),
    }
}

/// A GraphQL result the hub handed back (a request error: the probe answers before it
/// starts only with one) as a status. A result without one would carry no stored event to
/// send: the stream ends rather than skip it silently, and the client resumes.
fn refusal(response: &async_graphql::Response) -> Option<Result<Event, Status>> {
    let Some(error) = response.errors.first() else {
        return Some(Err(Status::unavailable("the stream could not be served here; resume with `after`")));
    };
    let code = error.extensions.as_ref().and_then(|e| e.get("code")).and_then(|code| match code {
        async_graphql::Value::String(code) => Some(code.clone()),
        _ => None,
    });
    Some(Err(status::of_code(code.as_deref().unwrap_or("INTERNAL"), &error.message)))
}

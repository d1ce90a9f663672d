//! The broker-agnostic core: a message's bytes in, what to publish out (the reply, or a
//! dead letter) — or "not now" (retry). The consumer publishes what it gets and only then
//! acks, so a crash anywhere before the ack means a redelivery, which this core answers
//! with the first result (`domain::command` keeps each mutation's first result in its own
//! transaction; the whole reply is kept under the command's id once it is built).

use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

use super::command::{Command, Unusable, parse};
use super::metrics::{Door, InboxMetrics};
use super::reply::{dead_letter, reply};
use crate::auth::Principal;
use crate::domain::command::as_command;
use crate::domain::idempotency::IdempotencyKey;
use crate::domain::{Rejected, Services};
use crate::error::AppError;

/// Deliveries of one command before a passing failure (a refused key, a rate limit, a
/// database error) sends it to the dead letter instead of blocking the ones behind it.
pub const MAX_ATTEMPTS: u32 = 5;

/// How an operation ran, as the GraphQL door reports it.
pub enum Executed {
    /// The document's operation is a query or a subscription (named), so nothing ran.
    NotAMutation(&'static str),
    /// The GraphQL response (`data`, `errors`), admitted or refused as HTTP would.
    Ran(Value),
}

/// The door that runs a command's GraphQL request: the HTTP door's own admission and
/// execution (`http::graphql`), so the same validation, limits, quotas and audit apply.
#[async_trait]
pub trait Execute: Send + Sync {
    async fn mutation(&self, principal: Principal, request: Value) -> Executed;
}

/// One message as a consumer hands it over.
pub struct Incoming<'a> {
    pub bytes: &'a [u8],
    pub content_type: Option<&'a str>,
    /// The broker's own reply address (AMQP `reply_to`, a NATS `Reply-To` header).
    pub reply_to: Option<String>,
    /// Which delivery of this message this is (1 for the first).
    pub attempt: u32,
}

/// What the consumer does with a message.
#[derive(Debug)]
pub enum Outcome {
    /// Publish `body` to `to` (or the default reply destination), then ack. `replayed`:
    /// the command had been applied before (this is a redelivery).
    Reply { to: Option<String>, body: Vec<u8>, replayed: bool },
    /// Publish `body` to the dead letter, then ack.
    DeadLetter { body: Vec<u8> },
    /// Leave it unacked for a later delivery (the error is logged and shown).
    Retry { error: String },
}

pub struct Inbox {
    services: Services,
    executor: Arc<dyn Execute>,
    max_bytes: usize,
    pub metrics: Arc<InboxMetrics>,
}

impl Inbox {
    pub fn new(services: Services, executor: Arc<dyn Execute>, max_bytes: usize, metrics: Arc<InboxMetrics>) -> Self {
        Self { services, executor, max_bytes, metrics }
    }

    /// Decides what becomes of one message that arrived through `door` under `api_key`.
    pub async fn handle(&self, door: Door, api_key: &str, message: Incoming<'_>) -> Outcome {
        let outcome = match parse(message.bytes, message.content_type, self.max_bytes) {
            Err(unusable) => dead(message.bytes, &unusable, None),
            Ok(command) => match self.run(api_key, &command, message.reply_to.clone(), message.bytes).await {
                Ok(outcome) => outcome,
                Err(error) if message.attempt >= MAX_ATTEMPTS => {
                    let text = format!("gave up after {} deliveries: {error}", message.attempt);
                    dead(
                        message.bytes,
                        &Unusable { code: "GAVE_UP", message: text, id: Some(command.id.clone()) },
                        None,
                    )
                }
                Err(error) => Outcome::Retry { error },
            },
        };
        match &outcome {
            Outcome::Reply { replayed: false, .. } => self.metrics.applied(door),
            Outcome::Reply { replayed: true, .. } => self.metrics.replayed(door),
            Outcome::DeadLetter { .. } => self.metrics.dead_lettered(door),
            Outcome::Retry { error } => {
                tracing::warn!(door = door.as_str(), "command not run, left for a redelivery: {error}");
                self.metrics.retried(door)
            }
        }
        outcome
    }

    /// Runs `command`; Err is a passing failure worth another delivery.
    async fn run(
        &self,
        api_key: &str,
        command: &Command,
        reply_to: Option<String>,
        bytes: &[u8],
    ) -> Result<Outcome, String> {
        let principal = self.services.authenticate(api_key).await.map_err(|rejected| match rejected {
            Rejected::UnknownKey => "the consumer's API key is unknown or revoked".to_string(),
            Rejected::InvalidToken(why) | Rejected::NoScope(why) => {
                format!("the consumer's credential is refused: {why}")
            }
            Rejected::Lookup(err) => format!("the consumer's API key could not be looked up: {err}"),
        })?;
        let to = command.reply_to.clone().or(reply_to);
        let record = IdempotencyKey::new(
            principal.idempotency_scope(),
            &format!("command:{}", command.id),
            "command",
            &command.request,
        )
        .map_err(|err| err.to_string())?;
        match record.lookup(&self.services.db).await {
            Ok(Some(first)) => {
                return Ok(Outcome::Reply { to, body: first.into_bytes(), replayed: true });
            }
            Ok(None) => {}
            Err(AppError::Conflict(_)) => {
                let message = format!("the id {:?} was already used for a different command", command.id);
                let unusable = Unusable { code: "CONFLICT", message, id: Some(command.id.clone()) };
                return Ok(dead(bytes, &unusable, None));
            }
            Err(err) => return Err(format!("reading the command's record: {err}")),
        }
        let (executed, tally) =
            as_command(&command.id, self.executor.mutation(principal, command.request.clone())).await;
        let response = match executed {
            Executed::NotAMutation(kind) => {
                let message = format!("a command must be a mutation; this document's operation is a {kind}");
                let unusable = Unusable { code: "NOT_A_MUTATION", message, id: Some(command.id.clone()) };
                return Ok(dead(bytes, &unusable, None));
            }
            Executed::Ran(response) => response,
        };
        if let Some(passing) = passing_failure(&response) {
            return Err(passing);
        }
        if let Some(unusable) = refusal(&response, &command.id) {
            return Ok(dead(bytes, &unusable, Some(&response)));
        }
        let body = reply(&command.id, &response, self.services.clock.now());
        let text = String::from_utf8_lossy(&body).into_owned();
        let stored = record.store(&self.services.db, text, self.services.now_ms()).await;
        let body = match stored {
            Ok(true) => body,
            // Another delivery of the same command stored its reply first: that one is the answer.
            Ok(false) => match record.lookup(&self.services.db).await {
                Ok(Some(first)) => first.into_bytes(),
                _ => body,
            },
            // The mutations committed with their keys: a redelivery replays them, so the
            // reply can go out without its record.
            Err(err) => {
                tracing::warn!(error = %err, id = %command.id, "the command's reply was not kept");
                body
            }
        };
        let replayed = tally.mutations > 0 && tally.replayed == tally.mutations;
        Ok(Outcome::Reply { to, body, replayed })
    }
}

fn dead(bytes: &[u8], unusable: &Unusable, response: Option<&Value>) -> Outcome {
    tracing::info!(code = unusable.code, id = ?unusable.id, "command sent to the dead letter: {}", unusable.message);
    Outcome::DeadLetter { body: dead_letter(bytes, unusable, response) }
}

/// The error codes of a response's errors.
fn codes(response: &Value) -> impl Iterator<Item = &str> {
    let errors = response.get("errors").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    errors.iter().filter_map(|e| e.pointer("/extensions/code").and_then(Value::as_str))
}

/// A failure that another delivery may not meet: a rate limit, a quota, the database.
fn passing_failure(response: &Value) -> Option<String> {
    let code = codes(response).find(|c| matches!(*c, "RATE_LIMITED" | "QUOTA_EXCEEDED" | "INTERNAL"))?;
    let messages = messages(response);
    Some(format!("{code}: {messages}"))
}

/// A command that cannot run: refused before it ran (it does not parse or validate: an
/// unknown field, a wrong argument), or refused by its scope (what it names is not the
/// key's to change: NOT_FOUND under a practice key, FORBIDDEN, UNAUTHENTICATED).
fn refusal(response: &Value, id: &str) -> Option<Unusable> {
    let errors = response.get("errors").and_then(Value::as_array)?;
    let not_run = response.get("data").is_none_or(Value::is_null)
        && errors.iter().all(|e| e.get("path").and_then(Value::as_array).is_none_or(Vec::is_empty));
    let code = if not_run {
        "INVALID_OPERATION"
    } else if codes(response).any(|c| matches!(c, "NOT_FOUND" | "FORBIDDEN" | "UNAUTHENTICATED")) {
        "REFUSED"
    } else {
        return None;
    };
    Some(Unusable { code, message: messages(response), id: Some(id.to_string()) })
}

fn messages(response: &Value) -> String {
    let errors = response.get("errors").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let all: Vec<&str> = errors.iter().filter_map(|e| e.get("message").and_then(Value::as_str)).collect();
    all.join("; ")
}

//! Webhook endpoints, deliveries and attempts as the schema shows them: resolvers over
//! the records of `crate::vocab`.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use super::{EventType, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint};
use super::{WebSubSubscription, WebhookEndpointSecret, WebhookReplay};

#[Object(name = "WebhookEndpoint")]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn practice_id(&self) -> ID {
        ID(self.practice_id.clone())
    }
    async fn url(&self) -> &str {
        &self.url
    }
    /// The event types sent to this endpoint; empty means every type.
    async fn event_types(&self) -> Vec<EventType> {
        self.event_types.iter().map(|&t| t.into()).collect()
    }
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// False once disabled: by hand, after a `410 Gone`, or after failing for too long.
    async fn enabled(&self) -> bool {
        self.enabled
    }
    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.disabled_at
    }
    /// Why the endpoint was disabled.
    async fn disabled_reason(&self) -> Option<&str> {
        self.disabled_reason.as_deref()
    }
    /// When the current run of failed attempts began (null after a success).
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.failing_since
    }
    /// Until when the secret before the last rotation still signs, alongside the new one.
    async fn previous_secret_expires_at(&self) -> Option<DateTime<Utc>> {
        self.previous_secret_expires_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

/// A WebSub subscription (`POST /websub`): a subscriber's callback receiving a topic
/// until its lease ends. Its secret is never shown.
#[Object(name = "WebSubSubscription")]
impl WebSubSubscription {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn practice_id(&self) -> ID {
        ID(self.practice_id.clone())
    }
    /// Where content is POSTed.
    async fn callback(&self) -> &str {
        &self.callback
    }
    /// The topic URL the subscriber asked for.
    async fn topic(&self) -> &str {
        &self.topic
    }
    /// The topic's event types; empty means every type.
    async fn event_types(&self) -> Vec<EventType> {
        self.event_types.iter().map(|&t| t.into()).collect()
    }
    /// When the lease ends unless the subscriber renews it.
    async fn lease_expires_at(&self) -> DateTime<Utc> {
        self.lease_expires_at
    }
    /// Whether content is signed (`X-Hub-Signature`): the subscriber gave a secret.
    async fn signed(&self) -> bool {
        self.signed
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

/// An endpoint with its signing secret: returned only by `createWebhookEndpoint` and
/// `rotateWebhookSecret` (a replayed idempotent request answers with an empty secret).
#[Object(name = "WebhookEndpointSecret")]
impl WebhookEndpointSecret {
    async fn endpoint(&self) -> &WebhookEndpoint {
        &self.endpoint
    }
    /// `whsec_…`: verify `webhook-signature` with it (Standard Webhooks).
    async fn secret(&self) -> &str {
        &self.secret
    }
}

/// One event on its way to one endpoint.
#[Object(name = "WebhookDelivery")]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn endpoint_id(&self) -> ID {
        ID(self.endpoint_id.clone())
    }
    /// The `webhook-id` header: the event's cursor, the same on every attempt.
    async fn webhook_id(&self) -> &str {
        &self.webhook_id
    }
    async fn seq(&self) -> i64 {
        self.seq
    }
    async fn event_type(&self) -> EventType {
        self.event_type.into()
    }
    async fn status(&self) -> WebhookDeliveryStatus {
        self.status.into()
    }
    async fn attempt_count(&self) -> i32 {
        self.attempt_count
    }
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.next_attempt_at
    }
    async fn last_status_code(&self) -> Option<i32> {
        self.last_status_code
    }
    async fn last_latency_ms(&self) -> Option<i64> {
        self.last_latency_ms
    }
    async fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.delivered_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// Every attempt, oldest first.
    async fn attempts(&self) -> &[WebhookAttempt] {
        &self.attempts
    }
}

/// One HTTP request made for a delivery.
#[Object(name = "WebhookAttempt")]
impl WebhookAttempt {
    /// 1, 2, 3, … per delivery.
    async fn number(&self) -> i32 {
        self.number
    }
    async fn attempted_at(&self) -> DateTime<Utc> {
        self.attempted_at
    }
    /// The HTTP status received; null when no answer came (refused, timeout, no connection).
    async fn status_code(&self) -> Option<i32> {
        self.status_code
    }
    async fn latency_ms(&self) -> i64 {
        self.latency_ms
    }
    async fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// What `replayWebhooks` queued.
#[Object(name = "WebhookReplay")]
impl WebhookReplay {
    async fn endpoint(&self) -> &WebhookEndpoint {
        &self.endpoint
    }
    /// How many events were queued for delivery again.
    async fn queued(&self) -> i32 {
        self.queued
    }
}

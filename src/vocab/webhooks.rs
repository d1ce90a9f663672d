//! Webhook endpoints, deliveries and attempts as the domain returns them (their GraphQL
//! face is `graphql::types`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EventType;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpoint {
    pub id: String,
    pub practice_id: String,
    pub url: String,
    /// The event types sent to this endpoint; empty means every type.
    pub event_types: Vec<EventType>,
    pub description: Option<String>,
    /// False once disabled: by hand, after a `410 Gone`, or after failing for too long.
    pub enabled: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why the endpoint was disabled.
    pub disabled_reason: Option<String>,
    /// When the current run of failed attempts began (null after a success).
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs, alongside the new one.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A WebSub subscription (`POST /websub`): a subscriber's callback receiving a topic
/// until its lease ends. Its secret is never shown.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebSubSubscription {
    pub id: String,
    pub practice_id: String,
    pub callback: String,
    pub topic: String,
    /// The topic's event types; empty means every type.
    pub event_types: Vec<EventType>,
    pub lease_expires_at: DateTime<Utc>,
    /// Whether content is signed (`X-Hub-Signature`): the subscriber gave a secret.
    pub signed: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An endpoint with its signing secret: returned only by `createWebhookEndpoint` and
/// `rotateWebhookSecret` (a replayed idempotent request answers with an empty secret).
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointSecret {
    pub endpoint: WebhookEndpoint,
    /// `whsec_…`: verify `webhook-signature` with it (Standard Webhooks).
    pub secret: String,
}

/// Where a delivery stands.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WebhookDeliveryStatus {
    /// Not delivered yet: waiting for its turn, its next attempt, or a disabled endpoint.
    Pending,
    /// A 2xx answer was received.
    Succeeded,
    /// Every attempt of the retry schedule failed (`redeliverWebhook` tries again).
    Failed,
}

impl WebhookDeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// One event on its way to one endpoint.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    pub id: String,
    pub endpoint_id: String,
    /// The `webhook-id` header: the event's cursor, the same on every attempt.
    pub webhook_id: String,
    pub seq: i64,
    pub event_type: EventType,
    pub status: WebhookDeliveryStatus,
    pub attempt_count: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Every attempt, oldest first.
    pub attempts: Vec<WebhookAttempt>,
}

/// One HTTP request made for a delivery.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAttempt {
    /// 1, 2, 3, … per delivery.
    pub number: i32,
    pub attempted_at: DateTime<Utc>,
    /// The HTTP status received; null when no answer came (refused, timeout, no connection).
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// What `replayWebhooks` queued.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct WebhookReplay {
    pub endpoint: WebhookEndpoint,
    /// How many events were queued for delivery again.
    pub queued: i32,
}

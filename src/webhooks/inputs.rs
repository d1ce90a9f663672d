//! The inputs of the webhook mutations as the domain takes them (`graphql::mutation`
//! converts the API's), and the rules their fields follow.

use serde::Serialize;

use super::guard::{self, Allowlist, Refused};
use crate::domain::validate;
use crate::error::{AppError, AppResult};
use crate::vocab::EventType;

pub const MAX_URL: usize = 2048;
pub const MAX_DESCRIPTION: usize = 500;
/// The longest a rotated-out secret may keep signing.
pub const MAX_GRACE_SECONDS: i32 = 7 * 24 * 3600;
pub const DEFAULT_GRACE_SECONDS: i32 = 24 * 3600;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateWebhookEndpointInput {
    pub practice_id: String,
    /// `https://…` (or `http://`); private and loopback addresses are refused unless the
    /// server's `WEBHOOK_ALLOW_PRIVATE` allows them.
    pub url: String,
    /// The event types to send; omitted or empty: every type.
    pub event_types: Option<Vec<EventType>>,
    pub description: Option<String>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

/// Omitted fields stay as they are; `description: null` clears it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateWebhookEndpointInput {
    pub id: String,
    pub url: Option<String>,
    pub event_types: Option<Vec<EventType>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    /// `false` disables the endpoint; `true` enables it again, and what it missed meanwhile
    /// is delivered, in order.
    pub enabled: Option<bool>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotateWebhookSecretInput {
    pub id: String,
    /// How long the current secret keeps signing next to the new one (default one day,
    /// at most seven; 0 retires it at once).
    pub grace_seconds: Option<i32>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteWebhookEndpointInput {
    pub id: String,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedeliverWebhookInput {
    pub delivery_id: String,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayWebhooksInput {
    pub endpoint_id: String,
    /// An event cursor: the endpoint's events after it are sent again, in order. Omitted:
    /// from the start of the retained log.
    pub after: Option<String>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

/// A webhook URL: well-formed, http(s), and not resolving to a refused address. A host
/// that does not resolve yet is accepted; every attempt checks again.
pub async fn url(value: &str, allow: &Allowlist) -> AppResult<String> {
    let value = value.trim();
    if value.len() > MAX_URL {
        return Err(AppError::bad_input(format!("url: must be at most {MAX_URL} characters")));
    }
    let parsed = guard::parse(value).map_err(|e| AppError::bad_input(e.to_string()))?;
    match guard::resolve(&parsed, allow).await {
        Ok(_) | Err(Refused::Unresolved(_)) => Ok(parsed.to_string()),
        Err(refused) => Err(AppError::bad_input(refused.to_string())),
    }
}

/// Event types as stored: sorted, without duplicates, as a JSON array.
pub fn event_types(types: Option<&[EventType]>) -> AppResult<String> {
    let mut names: Vec<&str> = types.unwrap_or_default().iter().map(|t| t.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    Ok(serde_json::to_string(&names)?)
}

pub fn description(value: Option<&str>) -> AppResult<Option<String>> {
    validate::optional_text("description", value, MAX_DESCRIPTION)
}

pub fn grace_seconds(value: Option<i32>) -> AppResult<i64> {
    match value.unwrap_or(DEFAULT_GRACE_SECONDS) {
        n if (0..=MAX_GRACE_SECONDS).contains(&n) => Ok(n as i64),
        _ => Err(AppError::bad_input(format!("graceSeconds: must be between 0 and {MAX_GRACE_SECONDS}"))),
    }
}

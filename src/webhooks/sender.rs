//! One attempt: check the destination, sign the message, POST it, and report what came
//! back. Redirects are not followed (a redirect could lead anywhere the guard refuses).

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};
use std::time::{Duration, Instant};

use super::guard::{self, Allowlist};
use super::message::Message;
use super::schedule;
use super::signing::signature_header;
use crate::db::entities::webhook_endpoint;

/// Whether this build can speak TLS. reqwest is built without a TLS backend for now (plain
/// http covers tests and on-premise receivers); turning on its `rustls-tls` feature and
/// this flag enables https endpoints.
const HTTPS_SUPPORTED: bool = false;

/// How much of a failed answer's body is kept with the attempt, to help debugging.
const BODY_EXCERPT: usize = 256;

/// What one attempt produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
    /// What the receiver asked for in `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    pub fn failed(error: impl Into<String>) -> Self {
        Self { error: Some(error.into()), ..Self::default() }
    }
}

/// The secrets that sign now: the current one, and the previous one during its grace.
fn signing_secrets(endpoint: &webhook_endpoint::Model, now_ms: i64) -> Vec<&str> {
    let mut secrets = vec![endpoint.secret.as_str()];
    if let (Some(previous), Some(until)) = (&endpoint.previous_secret, endpoint.previous_secret_expires_at)
        && until > now_ms
    {
        secrets.push(previous);
    }
    secrets
}

/// Sends `message` to the endpoint once.
pub async fn send(
    endpoint: &webhook_endpoint::Model,
    message: &Message,
    allow: &Allowlist,
    timeout: Duration,
    now: DateTime<Utc>,
) -> Outcome {
    let url = match guard::parse(&endpoint.url) {
        Ok(url) => url,
        Err(refused) => return Outcome::failed(refused.to_string()),
    };
    if url.scheme() == "https" && !HTTPS_SUPPORTED {
        return Outcome::failed("https delivery is not available in this build (reqwest's rustls-tls feature is off)");
    }
    // Checked on every attempt: what the name resolves to may have changed since creation.
    let (host, addr) = match guard::resolve(&url, allow).await {
        Ok(found) => found,
        Err(refused) => return Outcome::failed(refused.to_string()),
    };
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .resolve(&host, addr)
        .pool_max_idle_per_host(0)
        .build()
    {
        Ok(client) => client,
        Err(err) => return Outcome::failed(describe(&err)),
    };
    let timestamp = now.timestamp();
    let request = client
        .post(url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(USER_AGENT, concat!("clinicstream-webhooks/", env!("CARGO_PKG_VERSION")));
    let request = if endpoint.protocol == webhook_endpoint::WEBSUB {
        super::websub::distribution_headers(request, endpoint, &message.body)
    } else {
        let signature =
            signature_header(signing_secrets(endpoint, now.timestamp_millis()), &message.id, timestamp, &message.body);
        request
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
    };
    let request = match &message.trace {
        Some(trace) => {
            let request = request.header("traceparent", trace.traceparent());
            match trace.tracestate() {
                Some(state) => request.header("tracestate", state),
                None => request,
            }
        }
        None => request,
    };
    let started = Instant::now();
    let sent = request.body(message.body.clone()).send().await;
    let mut outcome = match sent {
        Ok(mut response) => {
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| schedule::retry_after(v, now));
            let error = if status.is_success() {
                None
            } else {
                let mut excerpt = Vec::new();
                while excerpt.len() < BODY_EXCERPT {
                    match response.chunk().await {
                        Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                excerpt.truncate(BODY_EXCERPT);
                let excerpt = String::from_utf8_lossy(&excerpt).trim().to_string();
                Some(if excerpt.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {excerpt}") })
            };
            Outcome { status: Some(status.as_u16()), error, retry_after, latency_ms: 0 }
        }
        Err(err) => Outcome::failed(describe(&err)),
    };
    outcome.latency_ms = started.elapsed().as_millis() as i64;
    outcome
}

/// A transport error in plain words, with its causes.
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out waiting for the endpoint".into();
    }
    let mut text = if err.is_connect() { "could not connect".to_string() } else { "request failed".to_string() };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

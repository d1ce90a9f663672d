//! Verification of intent: a GET of the callback with `hub.mode`, `hub.topic`,
//! `hub.challenge` (and `hub.lease_seconds` for a subscription); the subscriber confirms by
//! answering 2xx with the challenge as the whole body. Sent through the same guard as
//! deliveries (no private addresses unless allowed, no redirects), within the webhook timeout.

use rand::RngCore;
use std::time::Duration;

use super::request::{Intent, Mode};
use crate::webhooks::guard::{self, Allowlist};

/// The longest answer read: a challenge is 32 characters.
const MAX_ANSWER: usize = 1024;

fn challenge() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the callback confirms `intent`; Err says why not (for the log).
pub(super) async fn confirmed(intent: &Intent, allow: &Allowlist, timeout: Duration) -> Result<(), String> {
    let mut url = guard::parse(&intent.callback).map_err(|e| e.to_string())?;
    let (host, addr) = guard::resolve(&url, allow).await.map_err(|e| e.to_string())?;
    let challenge = challenge();
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("hub.mode", intent.mode.as_str());
        query.append_pair("hub.topic", &intent.topic.url);
        query.append_pair("hub.challenge", &challenge);
        if intent.mode == Mode::Subscribe {
            query.append_pair("hub.lease_seconds", &intent.lease_seconds.to_string());
        }
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .resolve(&host, addr)
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| e.to_string())?;
    let mut response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("the callback answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER {
            return Err("the callback's answer is not the challenge".into());
        }
    }
    if body != challenge.as_bytes() {
        return Err("the callback did not echo hub.challenge".into());
    }
    Ok(())
}

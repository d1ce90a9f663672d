//! The webhook settings (flags with environment fallbacks), flattened into `Config`.

use clap::{ArgAction, Args};
use std::time::Duration;

use super::guard::Allowlist;
use super::schedule::RetrySchedule;
use crate::duration::parse_duration;

#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Run the webhook dispatcher and delivery worker on this replica.
    #[arg(long = "webhook-worker", env = "WEBHOOK_WORKER", default_value_t = true, action = ArgAction::Set)]
    pub worker: bool,
    /// Delays before each retry after the first attempt, e.g. `5s,5m,30m,2h,5h,10h,10h`
    /// (units ms, s, m, h, d). A delivery that fails them all is FAILED.
    #[arg(long = "webhook-retry-schedule", env = "WEBHOOK_RETRY_SCHEDULE", default_value = "5s,5m,30m,2h,5h,10h,10h")]
    pub retry_schedule: RetrySchedule,
    /// How long one attempt may take before it counts as failed.
    #[arg(long = "webhook-timeout", env = "WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// An endpoint whose attempts have all failed for this long is disabled.
    #[arg(long = "webhook-disable-after", env = "WEBHOOK_DISABLE_AFTER", default_value = "5d", value_parser = parse_duration)]
    pub disable_after: Duration,
    /// How often the dispatcher and worker look for new events and due deliveries.
    #[arg(long = "webhook-poll", env = "WEBHOOK_POLL", default_value = "250ms", value_parser = parse_duration)]
    pub poll: Duration,
    /// Deliveries in flight at once on this replica (each to a different endpoint).
    #[arg(long = "webhook-concurrency", env = "WEBHOOK_CONCURRENCY", default_value_t = 16)]
    pub concurrency: usize,
    /// Destinations allowed although private: `true` for any, or a comma-separated list of
    /// CIDRs, addresses and host names (`10.0.0.0/8,hooks.internal`). Empty: public only.
    #[arg(long = "webhook-allow-private", env = "WEBHOOK_ALLOW_PRIVATE", default_value = "")]
    pub allow_private: Allowlist,
    /// The public base URL of this server (`https://events.example.com`), for WebSub
    /// topics (`<base>/practices/<id>/events`) and the hub (`<base>/websub`). Unset: the
    /// `Host` of each request, over http.
    #[arg(long = "websub-public-url", env = "WEBSUB_PUBLIC_URL")]
    pub websub_public_url: Option<String>,
}

impl WebhookArgs {
    /// How long a worker holds an endpoint for one attempt: the attempt's timeout plus a
    /// margin, so another replica never attempts the same endpoint while one is in flight.
    pub fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(30)
    }
}

//! The delivery worker, one per replica: claims due deliveries, attempts each (up to
//! `WEBHOOK_CONCURRENCY` at once, each to a different endpoint), and records the outcome.
//! It wakes on its poll, when the dispatcher queued something, and when an attempt ends
//! (so an endpoint's next delivery follows at once). On shutdown it stops claiming and
//! lets attempts in flight finish (each is bounded by the timeout).

use sea_orm::{DatabaseConnection, EntityTrait};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::claim::{Claimed, claim};
use super::message::Message;
use super::record::record;
use super::sender::{Outcome, send};
use super::settings::WebhookArgs;
use crate::clock::SharedClock;
use crate::db::entities::event;
use crate::events::{AttemptOutcome, OutcomeLabel, StoredEvent};

pub struct Worker {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub settings: Arc<WebhookArgs>,
    pub queued: Arc<Notify>,
    pub shutdown: CancellationToken,
    pub counters: Arc<crate::events::Counters>,
    pub usage: Arc<crate::usage::Meter>,
    pub audit: Arc<crate::audit::Recorder>,
    /// The practices' daily delivery quotas.
    pub limits: Arc<crate::limits::Limits>,
}

impl Worker {
    #[tracing::instrument(skip_all, name = "webhook_worker")]
    pub async fn run(self) {
        let this = Arc::new(self);
        let mut in_flight = JoinSet::new();
        let concurrency = this.settings.concurrency.max(1);
        loop {
            let free = concurrency.saturating_sub(in_flight.len());
            if free > 0 {
                let now = this.clock.now().timestamp_millis();
                let lease_until = now + this.settings.lease().as_millis() as i64;
                match claim(&this.db, now, lease_until, free).await {
                    Ok(batch) => {
                        for claimed in batch {
                            in_flight.spawn(this.clone().attempt(claimed));
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "claiming webhook deliveries failed"),
                }
            }
            tokio::select! {
                _ = this.shutdown.cancelled() => break,
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Err(err) = done {
                        tracing::error!(error = %err, "a webhook attempt panicked");
                    }
                }
                _ = this.queued.notified() => {}
                _ = tokio::time::sleep(this.settings.poll) => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Attempts one claimed delivery and records what happened.
    #[tracing::instrument(skip_all, fields(delivery = %claimed.delivery.id, endpoint = %claimed.endpoint.id))]
    async fn attempt(self: Arc<Self>, claimed: Claimed) {
        let now = self.clock.now();
        let practice_id = claimed.delivery.practice_id.clone();
        if self.limits.reserve_delivery(&practice_id).await.is_err() {
            // Over the practice's daily quota: it stays PENDING, the endpoint is looked at
            // again in a second, and its deliveries resume in order once the quota allows.
            if let Err(err) = hold_back(&self.db, &claimed, now.timestamp_millis() + 1000).await {
                tracing::warn!(error = %err, "could not hold back a webhook delivery");
            }
            return;
        }
        let (outcome, gone) = match self.message(&claimed).await {
            Ok(Some((mut message, event))) => {
                let settings = &self.settings;
                let span = crate::telemetry::delivery("webhook", &practice_id, event.seq, event.trace.as_ref());
                if let Some(attempt) = crate::telemetry::TraceContext::of_span(&span) {
                    message.trace = Some(attempt);
                }
                let sending = send(&claimed.endpoint, &message, &settings.allow_private, settings.timeout, now);
                let outcome = sending.instrument(span).await;
                if outcome.succeeded() {
                    self.metered(&claimed, &event);
                }
                (outcome, false)
            }
            Ok(None) => (Outcome::failed("the event is no longer in the log"), true),
            Err(err) => {
                // The lease runs out and the delivery is attempted again later.
                tracing::warn!(error = %err, "could not read the event to deliver");
                return;
            }
        };
        let label = match (outcome.succeeded(), outcome.status) {
            (true, _) => AttemptOutcome::delivered,
            (false, Some(_)) => AttemptOutcome::http_error,
            (false, None) => AttemptOutcome::transport_error,
        };
        self.counters.webhook_attempts.get_or_create(&OutcomeLabel { outcome: label }).inc();
        if !outcome.succeeded() {
            self.limits.refund_delivery(&practice_id).await;
        }
        if outcome.succeeded() {
            tracing::debug!(status = ?outcome.status, latency_ms = outcome.latency_ms, "webhook delivered");
        } else {
            tracing::info!(status = ?outcome.status, error = ?outcome.error, "webhook attempt failed");
        }
        if let Err(err) = record(&self.db, &claimed, &outcome, &self.settings, now.timestamp_millis(), gone).await {
            // Unrecorded, the attempt is made again once the lease runs out: at least once.
            tracing::warn!(error = %err, "could not record a webhook attempt");
        }
    }

    /// The message for the claimed delivery's event (and the event), or None if the
    /// event was pruned.
    async fn message(&self, claimed: &Claimed) -> anyhow::Result<Option<(Message, StoredEvent)>> {
        let key = (claimed.delivery.practice_id.clone(), claimed.delivery.seq);
        let Some(row) = event::Entity::find_by_id(key).one(&self.db).await? else { return Ok(None) };
        let event = StoredEvent::from_row(row)?;
        let message = match claimed.endpoint.protocol.as_str() {
            crate::db::entities::webhook_endpoint::WEBSUB => Message::for_websub(&event)?,
            _ => Message::for_event(&event)?,
        };
        Ok(Some((message, event)))
    }

    /// A delivery the receiver accepted: usage (under `webhook:<endpoint id>`, transport
    /// WEBHOOK) and the audit trail (a DELIVER count for the event's patient).
    fn metered(&self, claimed: &Claimed, event: &StoredEvent) {
        let endpoint = &claimed.endpoint;
        let (door, kind) = match endpoint.protocol.as_str() {
            crate::db::entities::webhook_endpoint::WEBSUB => (crate::vocab::Transport::Websub, "websub"),
            _ => (crate::vocab::Transport::Webhook, "webhook"),
        };
        let who = crate::usage::UsageKey::new(&endpoint.practice_id, Some(&format!("{kind}:{}", endpoint.id)));
        self.usage.delivered(&who, door, event.event_type);
        let actor = crate::audit::Actor {
            api_key_id: None,
            subject: None,
            actor_name: None,
            role: crate::vocab::Role::Admin,
            transport: door,
            operation_name: None,
        };
        let filter = match &endpoint.topic {
            Some(topic) => format!("websub subscription {} {} topic {topic}", endpoint.id, endpoint.url),
            None => format!("webhook endpoint {} {}", endpoint.id, endpoint.url),
        };
        self.audit.watch(&endpoint.practice_id, actor, Some(filter), true).delivered(event.payload.patient_id());
    }
}

/// Gives the claimed endpoint back until `until`, its delivery untouched (still PENDING).
async fn hold_back(db: &DatabaseConnection, claimed: &Claimed, until: i64) -> Result<(), sea_orm::DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    crate::db::entities::webhook_endpoint::Entity::update_many()
        .col_expr(crate::db::entities::webhook_endpoint::Column::LeaseUntil, Expr::value(until))
        .filter(crate::db::entities::webhook_endpoint::Column::Id.eq(&claimed.endpoint.id))
        .exec(db)
        .await
        .map(|_| ())
}

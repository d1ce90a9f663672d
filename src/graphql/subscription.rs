//! The subscriptions: every one is a `Feed` over the practice's log (replay after the
//! optional cursor, then live), filtered and shaped for its field.

use async_graphql::{Context, ErrorExtensions, ID, Result, Subscription as GqlSubscription};
use futures_util::stream::{self, BoxStream};
use futures_util::{Stream, StreamExt};
use std::sync::Arc;

use super::context::caller;
use super::errors::{GqlResult, IntoGql};
use super::render_cache::Cached;
use super::shared_feed::{FeedSpec, Probe, Source};
use super::types::{AppointmentEvent, Event, EventType, PatientEvent, PaymentEvent};
use crate::domain::validate;
use crate::events::{Cursor, Feed, FeedFilter, GaugeGuard, StoredEvent, StreamTransport, TransportLabel, start_seq};
use crate::vocab;

#[derive(Default)]
pub struct Subscription;

type Events = BoxStream<'static, GqlResult<Cached<Event>>>;

fn cached(event: Arc<StoredEvent>) -> Cached<Event> {
    Cached { item: Event::from(event.clone()), event }
}

/// The field's events: from the hub's shared execution (a `Source`), nothing at all while
/// the hub only probes the subscriber's start (a `Probe`), or a `Feed` of its own.
async fn feed(
    ctx: &Context<'_>,
    practice_id: &str,
    after: Option<String>,
    mut filter: FeedFilter,
) -> GqlResult<Events> {
    let (s, who) = caller(ctx)?;
    let practice_id = validate::id("practiceId", practice_id).gql()?;
    who.read(practice_id, "practice").gql()?;
    // A patient's feed holds the events about them only; the cursors stay the practice's.
    if let Some(own) = who.patient_id() {
        match filter.patient_id.as_deref() {
            Some(asked) if asked != own => return Err(crate::error::AppError::NotFound("patient")).gql(),
            _ => filter.patient_id = Some(own.to_string()),
        }
    }
    // A filter id no entity can have is a mistake to report, not a feed that stays silent.
    for (field, id) in [("providerId", &filter.provider_id), ("patientId", &filter.patient_id)] {
        id.as_deref().map(|id| validate::id(field, id)).transpose().gql()?;
    }
    if let Some(source) = ctx.data_opt::<Source>() {
        source.bind(practice_id, filter);
        return Ok(source.events().map(|event| Ok(cached(event))).boxed());
    }
    if let Some(probe) = ctx.data_opt::<Probe>() {
        let after = probe.after.as_deref().or(after.as_deref());
        let cursor = after.map(|c| Cursor::decode_for(c, practice_id)).transpose().gql()?;
        let start = Box::pin(start_seq(&s.db, practice_id, cursor)).await.gql()?;
        probe.found(FeedSpec { practice_id: practice_id.to_string(), filter, start });
        return Ok(stream::pending().boxed());
    }
    // Boxed: the database futures behind `open` are large, and an unboxed await would keep
    // their space inside every subscription's stream for as long as it lives.
    let feed = Box::pin(Feed::open(&s.db, &s.bus, &s.counters, practice_id, after.as_deref(), filter)).await.gql()?;
    let transport = ctx.data_opt::<StreamTransport>().copied().unwrap_or(StreamTransport::Multipart);
    let label = TransportLabel::of(transport);
    let open = GaugeGuard::hold(s.counters.subscriptions.get_or_create(&label).clone());
    let delivered = s.counters.delivered.get_or_create(&label).clone();
    let (counters, clock) = (s.counters.clone(), s.clock.clone());
    Ok(feed
        .into_stream()
        .map(move |item| {
            let _open = &open;
            item.map(|event| {
                delivered.inc();
                let age = clock.now() - event.occurred_at;
                counters.delivery_latency.observe(age.num_microseconds().unwrap_or(0).max(0) as f64 / 1e6);
                cached(event)
            })
            .map_err(|e| e.extend())
        })
        .boxed())
}

fn appointments(types: vocab::EventType, provider_id: Option<ID>) -> FeedFilter {
    FeedFilter { types: Some(vec![types]), provider_id: provider_id.map(|p| p.0), patient_id: None }
}

/// Narrows a feed to one event shape (the filter already guarantees it).
fn only<T>(
    stream: impl Stream<Item = GqlResult<Cached<Event>>>,
    pick: fn(Event) -> Option<T>,
) -> impl Stream<Item = GqlResult<Cached<T>>> {
    stream.filter_map(move |item| async move {
        match item {
            Ok(event) => event.map(pick).map(Ok),
            Err(err) => Some(Err(err)),
        }
    })
}

#[GqlSubscription]
impl Subscription {
    /// Every business event of the practice, optionally only some types.
    async fn events(
        &self,
        ctx: &Context<'_>,
        practice_id: ID,
        types: Option<Vec<EventType>>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Cached<Event>>>> {
        let types = types.map(|types| types.into_iter().map(Into::into).collect());
        feed(ctx, &practice_id, after, FeedFilter { types, ..Default::default() }).await
    }

    async fn appointment_scheduled(
        &self,
        ctx: &Context<'_>,
        practice_id: ID,
        provider_id: Option<ID>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Cached<AppointmentEvent>>>> {
        let filter = appointments(vocab::EventType::AppointmentScheduled, provider_id);
        Ok(only(feed(ctx, &practice_id, after, filter).await?, Event::into_appointment))
    }

    async fn appointment_rescheduled(
        &self,
        ctx: &Context<'_>,
        practice_id: ID,
        provider_id: Option<ID>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Cached<AppointmentEvent>>>> {
        let filter = appointments(vocab::EventType::AppointmentRescheduled, provider_id);
        Ok(only(feed(ctx, &practice_id, after, filter).await?, Event::into_appointment))
    }

    async fn appointment_cancelled(
        &self,
        ctx: &Context<'_>,
        practice_id: ID,
        provider_id: Option<ID>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Cached<AppointmentEvent>>>> {
        let filter = appointments(vocab::EventType::AppointmentCancelled, provider_id);
        Ok(only(feed(ctx, &practice_id, after, filter).await?, Event::into_appointment))
    }

    /// Fires `REMINDER_LEAD` before an appointment starts.
    async fn appointment_starting_soon(
        &self,
        ctx: &Context<'_>,
        practice_id: ID,
        provider_id: Option<ID>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Cached<AppointmentEvent>>>> {
        let filter = appointments(vocab::EventType::AppointmentStartingSoon, provider_id);
        Ok(only(feed(ctx, &practice_id, after, filter).await?, Event::into_appointment))
    }

    async fn patient_created(
        &self,
        ctx: &Context<'_>,
        practice_id: ID,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Cached<PatientEvent>>>> {
        let filter = FeedFilter { types: Some(vec![vocab::EventType::PatientCreated]), ..Default::default() };
        Ok(only(feed(ctx, &practice_id, after, filter).await?, Event::into_patient))
    }

    async fn payment_posted(
        &self,
        ctx: &Context<'_>,
        practice_id: ID,
        patient_id: Option<ID>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Cached<PaymentEvent>>>> {
        let filter = FeedFilter {
            types: Some(vec![vocab::EventType::PaymentPosted]),
            patient_id: patient_id.map(|p| p.0),
            provider_id: None,
        };
        Ok(only(feed(ctx, &practice_id, after, filter).await?, Event::into_payment))
    }
}

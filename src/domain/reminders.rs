//! Appointment reminders: arming them when an appointment is scheduled or moved, and sending
//! APPOINTMENT_STARTING_SOON for the due ones, each exactly once, through the event log.
//!
//! The rules:
//! - Scheduling or rescheduling to a new `startsAt` arms a reminder for `startsAt − lead`
//!   (a reschedule after a reminder was sent arms a new one for the new time; one that
//!   keeps `startsAt` changes nothing). An appointment that has already started gets none.
//! - A reminder already due when armed (inside the lead window) is sent at once.
//! - Cancelling or completing disarms it.
//! - A reminder is sent only while the appointment has not started: one found due after
//!   its appointment started (every replica was down) is disarmed without an event.

use rand::Rng;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

use super::{MutationTx, Services, appointments};
use crate::db::entities::{appointment, patient, provider};
use crate::error::{AppError, AppResult};
use crate::events::Payload;
use crate::vocab::{AppointmentStatus, EventType};

/// Due reminders looked at per round (the oldest first).
const CANDIDATES: u64 = 1000;
/// Reminders sent per transaction: short enough not to hold a practice's writers up.
const BATCH: usize = 200;

/// The reminder settings and the scheduler's doorbell, shared by mutations and the scheduler.
pub struct Reminders {
    lead_ms: i64,
    /// The due time the scheduler sleeps until (ms); `i64::MAX` while it is awake or has
    /// nothing armed, so that every newly armed reminder rings.
    sleeping_until: AtomicI64,
    wake: Notify,
}

impl Reminders {
    pub fn new(lead: Duration) -> Self {
        let lead_ms = i64::try_from(lead.as_millis()).unwrap_or(i64::MAX);
        Self { lead_ms, sleeping_until: AtomicI64::new(i64::MAX), wake: Notify::new() }
    }

    /// When the reminder of an appointment starting at `starts_at` is due, if it gets one.
    pub fn remind_at(&self, starts_at: i64, now: i64) -> Option<i64> {
        (starts_at > now).then(|| starts_at.saturating_sub(self.lead_ms))
    }

    /// Called after a commit armed a reminder: wakes the scheduler if it is due sooner
    /// than what it sleeps for. (Other replicas see it at their next poll.)
    pub fn armed(&self, remind_at: Option<i64>) {
        if remind_at.is_some_and(|at| at < self.sleeping_until.load(Ordering::SeqCst)) {
            self.wake.notify_one();
        }
    }

    /// The scheduler, before looking at the database: every arm from now on rings.
    pub(crate) fn awake(&self) {
        self.sleeping_until.store(i64::MAX, Ordering::SeqCst);
    }

    /// The scheduler, going to sleep until `until` (ms; None: nothing armed).
    pub(crate) fn sleeping(&self, until: Option<i64>) -> &Notify {
        self.sleeping_until.store(until.unwrap_or(i64::MAX), Ordering::SeqCst);
        &self.wake
    }
}

/// What one round of sending did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Due reminders the round looked at (some may have been sent by another replica).
    pub candidates: usize,
    /// APPOINTMENT_STARTING_SOON events appended.
    pub reminded: usize,
    /// Due reminders dropped because their appointment had already started (or ended).
    pub disarmed: usize,
}

/// Sends the reminders due at `now`, up to `CANDIDATES` of them, in batches of one
/// practice per transaction. Several replicas may run this at once: each batch locks its
/// practice's counter, then claims its rows `FOR UPDATE SKIP LOCKED` re-checking they are
/// still due, so a reminder another replica sent in the meantime is not sent again.
#[tracing::instrument(skip(s))]
pub async fn send_due(s: &Services, now: i64) -> AppResult<Sent> {
    let due: Vec<(String, String)> = appointment::Entity::find()
        .select_only()
        .columns([appointment::Column::Id, appointment::Column::PracticeId])
        .filter(appointment::Column::RemindAt.lte(now))
        .order_by_asc(appointment::Column::RemindAt)
        .limit(CANDIDATES)
        .into_tuple()
        .all(&s.db)
        .await?;
    let mut sent = Sent { candidates: due.len(), ..Sent::default() };
    let mut by_practice: Vec<(String, Vec<String>)> = Vec::new();
    for (id, practice_id) in due {
        match by_practice.iter_mut().find(|(p, _)| *p == practice_id) {
            Some((_, ids)) => ids.push(id),
            None => by_practice.push((practice_id, vec![id])),
        }
    }
    let mut batches: Vec<(String, Vec<String>)> = by_practice
        .into_iter()
        .flat_map(|(practice_id, ids)| ids.chunks(BATCH).map(|c| (practice_id.clone(), c.to_vec())).collect::<Vec<_>>())
        .collect();
    // Replicas start at different batches, so they mostly work side by side, not in line.
    if !batches.is_empty() {
        let start = rand::rng().random_range(0..batches.len());
        batches.rotate_left(start);
    }
    for (practice_id, ids) in batches {
        let batch = send_batch(s, &practice_id, &ids, now).await?;
        sent.reminded += batch.reminded;
        sent.disarmed += batch.disarmed;
    }
    Ok(sent)
}

async fn send_batch(s: &Services, practice_id: &str, ids: &[String], now: i64) -> AppResult<Sent> {
    let mut tx = MutationTx::system_in(s, practice_id).await?;
    let rows = appointment::Entity::find()
        .filter(appointment::Column::Id.is_in(ids))
        .filter(appointment::Column::RemindAt.lte(now))
        .order_by_asc(appointment::Column::RemindAt)
        .order_by_asc(appointment::Column::Id)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(tx.conn())
        .await?;
    let (due, late): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|r| r.status == AppointmentStatus::Scheduled.as_str() && r.starts_at > now);
    let (patients, providers) = people(tx.conn(), &due).await?;
    let sent = Sent { candidates: 0, reminded: due.len(), disarmed: late.len() };
    let due_ids: Vec<String> = due.iter().map(|r| r.id.clone()).collect();
    let late_ids: Vec<String> = late.into_iter().map(|r| r.id).collect();
    for row in due {
        let patient = patients.get(&row.patient_id).cloned().ok_or(AppError::NotFound("patient"))?;
        let provider = providers.get(&row.provider_id).cloned().ok_or(AppError::NotFound("provider"))?;
        let appointment = Arc::new(appointments::view(row, patient, provider));
        tx.append(EventType::AppointmentStartingSoon, Payload::Appointment { appointment })?;
    }
    for (ids, reminded_at) in [(due_ids, Some(now)), (late_ids, None)] {
        if ids.is_empty() {
            continue;
        }
        let mut update = appointment::Entity::update_many()
            .col_expr(appointment::Column::RemindAt, Expr::value(Option::<i64>::None))
            .filter(appointment::Column::Id.is_in(ids));
        if reminded_at.is_some() {
            update = update.col_expr(appointment::Column::RemindedAt, Expr::value(reminded_at));
        }
        update.exec(tx.conn()).await?;
    }
    tx.commit(()).await?;
    if sent.disarmed > 0 {
        tracing::info!(
            practice_id,
            disarmed = sent.disarmed,
            "reminders for appointments that already started dropped"
        );
    }
    Ok(sent)
}

/// When the next armed reminder is due (ms), by the index of armed reminders.
pub async fn next_due(s: &Services) -> AppResult<Option<i64>> {
    let next: Option<Option<i64>> = appointment::Entity::find()
        .select_only()
        .column(appointment::Column::RemindAt)
        .filter(appointment::Column::RemindAt.is_not_null())
        .order_by_asc(appointment::Column::RemindAt)
        .limit(1)
        .into_tuple()
        .one(&s.db)
        .await?;
    Ok(next.flatten())
}

/// The patients and providers of a batch, two queries for the whole batch.
async fn people(
    conn: &impl ConnectionTrait,
    rows: &[appointment::Model],
) -> AppResult<(HashMap<String, patient::Model>, HashMap<String, provider::Model>)> {
    if rows.is_empty() {
        return Ok((HashMap::new(), HashMap::new()));
    }
    let patients = patient::Entity::find()
        .filter(patient::Column::Id.is_in(rows.iter().map(|r| r.patient_id.as_str())))
        .all(conn)
        .await?;
    let providers = provider::Entity::find()
        .filter(provider::Column::Id.is_in(rows.iter().map(|r| r.provider_id.as_str())))
        .all(conn)
        .await?;
    Ok((
        patients.into_iter().map(|p| (p.id.clone(), p)).collect(),
        providers.into_iter().map(|p| (p.id.clone(), p)).collect(),
    ))
}

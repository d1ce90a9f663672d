//! A practice hub's share of `maxDeliveriesPerDay`. The hub counts the frames it sends
//! and reserves them from the practice's shared daily counter in chunks (`CHUNK`, or
//! exactly what one event needs when a chunk no longer fits), so a delivery costs no
//! Redis round trip and the shared count never passes the limit. With no quota (the
//! default) an event costs one cached-quota lookup for the whole practice. The hub never
//! waits for the database here (`Limits::quota_now`): its own log reads may hold the
//! pool's connections while it waits.
//!
//! Past the quota the hub is *held*: its subscribers stop at their last delivered seq
//! and, once the quota allows (raised, or the next UTC day), catch up from the log.

use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use crate::limits::Limits;

/// Deliveries reserved from the shared counter at a time.
const CHUNK: i64 = 64;
/// How often a held hub asks whether the quota allows again.
pub(super) const RECHECK: Duration = Duration::from_secs(1);

pub(super) enum Spent {
    Yes,
    /// Nothing spent: reserve `missing` more under `max` first.
    Reserve {
        max: i64,
        missing: i64,
    },
}

/// Reserves at least `missing` deliveries (a chunk when it fits) under `max`: how many,
/// or 0 when even `missing` would pass the quota.
pub(super) async fn reserve(limits: &Limits, practice_id: &str, missing: i64, max: i64) -> i64 {
    for amount in [missing.max(CHUNK), missing] {
        if limits.reserve_deliveries_under(practice_id, amount, Some(max)).await.is_ok() {
            return amount;
        }
    }
    0
}

#[derive(Default)]
pub(super) struct Budget {
    /// Reserved and not yet spent, for `day`.
    left: i64,
    day: i64,
    /// Whether the last spend was under a quota (only then is anything given back).
    counted: bool,
    /// Over the quota: deliver nothing until `recheck` says otherwise.
    held: Option<Instant>,
}

impl Budget {
    pub(super) fn is_held(&self) -> bool {
        self.held.is_some()
    }

    /// When a held hub asks again.
    pub(super) fn recheck_at(&self) -> Option<Instant> {
        self.held
    }

    /// Spends `needed` deliveries, reserving more when what is left does not cover them.
    /// False (and held): over the quota, send none of them.
    pub(super) async fn spend(&mut self, limits: &Arc<Limits>, practice_id: &str, needed: i64) -> bool {
        let Spent::Reserve { max, missing } = self.spend_now(limits, practice_id, needed) else { return true };
        let amount = reserve(limits, practice_id, missing, max).await;
        if amount > 0 {
            self.left += amount - missing;
            return true;
        }
        self.held = Some(Instant::now() + RECHECK);
        false
    }

    /// Spends `needed` deliveries from what is reserved, without waiting; when that does
    /// not cover them, nothing is spent and `missing` more have to be reserved first
    /// (`reserve`, then `reserved`).
    pub(super) fn spend_now(&mut self, limits: &Arc<Limits>, practice_id: &str, needed: i64) -> Spent {
        if needed <= 0 {
            return Spent::Yes;
        }
        let Some(max) = limits.quota_now(practice_id).and_then(|quota| quota.max_deliveries_per_day) else {
            (self.held, self.left, self.counted) = (None, 0, false);
            return Spent::Yes;
        };
        self.counted = true;
        let day = limits.delivery_day();
        if day != self.day {
            (self.day, self.left) = (day, 0);
        }
        if self.left >= needed {
            self.left -= needed;
            return Spent::Yes;
        }
        Spent::Reserve { max, missing: needed - self.left }
    }

    /// Adds what `reserve` got for `day` (nothing, once that day is over).
    pub(super) fn reserved(&mut self, day: i64, amount: i64) {
        if day == self.day {
            self.left += amount;
        }
    }

    /// Gives what is reserved and unspent back to the shared count, as the hub goes:
    /// otherwise a practice whose subscribers come and go would lose a chunk of its day
    /// each time.
    pub(super) async fn give_back_unspent(&mut self, limits: &Limits, practice_id: &str) {
        let unspent = std::mem::take(&mut self.left);
        if self.counted && self.day == limits.delivery_day() {
            limits.refund_deliveries(practice_id, unspent).await;
        }
    }

    /// Deliveries spent and then not made (their connection was full or gone).
    pub(super) fn give_back(&mut self, unsent: i64) {
        if self.counted {
            self.left += unsent;
        }
    }

    /// A held hub asks whether one delivery fits now; true: no longer held (that one is
    /// reserved for the catch-up).
    pub(super) async fn recheck(&mut self, limits: &Arc<Limits>, practice_id: &str) -> bool {
        self.held = None;
        if self.spend(limits, practice_id, 1).await {
            self.left += 1;
            return true;
        }
        false
    }
}

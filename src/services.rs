//! The app-wide container: the domain's services and what only the layers above the
//! domain use (usage metering, the audit trail), built by one constructor that `serve`
//! and every subcommand use. It sits at the top, just under `state`: the layers below
//! are handed the parts they use, never the container.

use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::Recorder;
use crate::auth::hash_key;
use crate::clock::SharedClock;
use crate::domain::reminders::Reminders;
use crate::domain::writer::Writers;
use crate::domain::{Faults, Services};
use crate::events::{Counters, SharedBus};
use crate::limits::{LimitSettings, Limits};
use crate::usage::{Meter, MeteringArgs};

/// Everything the app shares, once per process.
#[derive(Clone)]
pub struct AppServices {
    /// What the domain's service functions work with (and the layers above hand them).
    pub domain: Services,
    /// This replica's usage counts since the last flush.
    pub usage: Arc<Meter>,
    /// This replica's audit rows and delivery counts since the last flush.
    pub audit: Arc<Recorder>,
}

/// What the container is built from: the open connections and clock, and the settings
/// that shape its parts.
pub struct Parts {
    pub db: DatabaseConnection,
    pub bus: SharedBus,
    pub clock: SharedClock,
    /// The bus's counters (the bus was started with them).
    pub counters: Arc<Counters>,
    /// Whether appends also write an outbox row (when the bus crosses a network).
    pub outbox: bool,
    pub limits: LimitSettings,
    pub reminder_lead: Duration,
    /// The bootstrap `ADMIN_KEY`, if one is configured.
    pub admin_key: Option<String>,
    pub metering: MeteringArgs,
    /// People's access tokens are accepted when these are set.
    pub identity: Option<crate::identity::IdentitySettings>,
}

impl Parts {
    /// For a subcommand that changes the database without serving: an in-process bus
    /// nothing listens to (what it appends is in the log, where subscribers' feeds find
    /// it), no limits, the default reminder lead (the serving replicas' setting is
    /// theirs), and no metering or audit (no flusher runs here).
    pub fn offline(db: DatabaseConnection, clock: SharedClock) -> Self {
        Self {
            db,
            bus: Arc::new(crate::events::MemoryBus::new(16)),
            clock,
            counters: Arc::default(),
            outbox: false,
            limits: LimitSettings { rate_per_sec: u32::MAX, rate_burst: u32::MAX, redis: None },
            reminder_lead: crate::domain::DEFAULT_REMINDER_LEAD,
            admin_key: None,
            metering: MeteringArgs { usage_flush_ms: 2000, audit: false, metrics_per_practice: false },
            identity: None,
        }
    }
}

impl AppServices {
    /// The one constructor, for serving and for the subcommands.
    pub fn build(parts: Parts) -> anyhow::Result<Self> {
        use anyhow::Context;
        let Parts { db, bus, clock, counters, outbox, limits, reminder_lead, admin_key, metering, identity } = parts;
        let faults = Arc::new(Faults::default());
        let writers = Writers::new(db.clone(), bus.clone(), faults.clone(), outbox, clock.clone(), counters.clone());
        let limits = Arc::new(Limits::new(limits, db.clone(), clock.clone()).context("opening the shared limits")?);
        let usage = Arc::new(match metering.metrics_per_practice {
            true => Meter::with_prometheus(clock.clone()),
            false => Meter::new(clock.clone()),
        });
        let audit = Arc::new(Recorder::new(metering.audit, clock.clone()));
        let domain = Services {
            db,
            bus,
            clock: clock.clone(),
            admin_key_hash: admin_key.as_deref().map(hash_key),
            reminders: Arc::new(Reminders::new(reminder_lead)),
            counters,
            faults,
            sessions: Default::default(),
            limits,
            keys: Default::default(),
            owners: Default::default(),
            writers,
            identity: identity.map(|settings| Arc::new(crate::identity::Identity::new(settings, clock.clone()))),
        };
        Ok(Self { domain, usage, audit })
    }
}

//! The durable cursor and the lease of each (bridge, practice), in `bridge_cursors`. A
//! replica claims the practices whose lease is free or ran out (one UPDATE, so two
//! replicas never both win a row), renews them while it lives, advances a cursor only
//! while it still holds the lease, and releases them when it stops. Like the webhook
//! worker's endpoint lease, a dead replica's practices return after `BRIDGE_LEASE`.

use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, Statement, Value};

use crate::db::bind;
use crate::error::AppResult;

/// A practice this replica holds for a bridge.
#[derive(Debug, FromQueryResult)]
pub struct Held {
    pub practice_id: String,
    pub seq: i64,
}

/// How far a bridge is behind, over every practice (whoever holds it).
#[derive(Debug, Default, FromQueryResult)]
pub struct Lag {
    /// Events appended but not yet acknowledged by the broker (or skipped by the types).
    pub events: i64,
    /// Practices with at least one such event.
    pub practices: i64,
}

#[derive(Clone)]
pub struct CursorStore {
    db: DatabaseConnection,
    /// `nats/<stream>`, `amqp/<exchange>`, `mqtt/<prefix>`.
    bridge: String,
    /// This replica's id, written into the rows it holds.
    owner: String,
}

impl CursorStore {
    pub fn new(db: DatabaseConnection, bridge: String, owner: String) -> Self {
        Self { db, bridge, owner }
    }

    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    fn statement(&self, sql: String, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.db.get_database_backend(), sql, values)
    }

    /// Adds a row (cursor 0: the whole log) for every practice that has none yet, then
    /// takes the leases that are free or ran out, and renews those already held. Returns
    /// every practice this replica now holds, with its cursor.
    pub async fn claim(&self, now_ms: i64, lease_until: i64) -> AppResult<Vec<Held>> {
        let mut values = Vec::new();
        let bridge = bind(self.bridge.clone().into(), &mut values);
        let now = bind(now_ms.into(), &mut values);
        let sql = format!(
            "INSERT INTO bridge_cursors (bridge, practice_id, seq, owner, lease_until, updated_at) \
             SELECT {bridge}, p.id, 0, NULL, NULL, {now} FROM practices p \
             WHERE NOT EXISTS (SELECT 1 FROM bridge_cursors c WHERE c.bridge = {bridge} AND c.practice_id = p.id) \
             ON CONFLICT DO NOTHING"
        );
        self.db.execute_raw(self.statement(sql, values)).await?;
        let mut values = Vec::new();
        let owner = bind(self.owner.clone().into(), &mut values);
        let until = bind(lease_until.into(), &mut values);
        let bridge = bind(self.bridge.clone().into(), &mut values);
        let now = bind(now_ms.into(), &mut values);
        let sql = format!(
            "UPDATE bridge_cursors SET owner = {owner}, lease_until = {until} \
             WHERE bridge = {bridge} AND (owner = {owner} OR owner IS NULL OR lease_until IS NULL OR lease_until < {now}) \
             RETURNING practice_id, seq"
        );
        Ok(Held::find_by_statement(self.statement(sql, values)).all(&self.db).await?)
    }

    /// Moves the practice's cursor to `seq`, if this replica still holds it. False: the
    /// lease was lost (another replica took the practice), so stop publishing it.
    pub async fn advance(&self, practice_id: &str, seq: i64, now_ms: i64) -> AppResult<bool> {
        let mut values = Vec::new();
        let seq = bind(seq.into(), &mut values);
        let now = bind(now_ms.into(), &mut values);
        let bridge = bind(self.bridge.clone().into(), &mut values);
        let practice = bind(practice_id.into(), &mut values);
        let owner = bind(self.owner.clone().into(), &mut values);
        let sql = format!(
            "UPDATE bridge_cursors SET seq = {seq}, updated_at = {now} \
             WHERE bridge = {bridge} AND practice_id = {practice} AND owner = {owner}"
        );
        Ok(self.db.execute_raw(self.statement(sql, values)).await?.rows_affected() == 1)
    }

    /// Gives back every practice this replica holds, so others take them at once.
    pub async fn release_all(&self) -> AppResult<()> {
        let mut values = Vec::new();
        let bridge = bind(self.bridge.clone().into(), &mut values);
        let owner = bind(self.owner.clone().into(), &mut values);
        let sql = format!(
            "UPDATE bridge_cursors SET owner = NULL, lease_until = NULL WHERE bridge = {bridge} AND owner = {owner}"
        );
        self.db.execute_raw(self.statement(sql, values)).await?;
        Ok(())
    }

    /// The bridge's lag over every practice: events behind each practice's log head.
    pub async fn lag(&self) -> AppResult<Lag> {
        let mut values = Vec::new();
        let bridge = bind(self.bridge.clone().into(), &mut values);
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(p.last_seq - COALESCE(c.seq, 0)), 0) AS BIGINT) AS events, \
                    CAST(COUNT(*) AS BIGINT) AS practices \
             FROM practices p LEFT JOIN bridge_cursors c ON c.practice_id = p.id AND c.bridge = {bridge} \
             WHERE p.last_seq > COALESCE(c.seq, 0)"
        );
        Ok(Lag::find_by_statement(self.statement(sql, values)).one(&self.db).await?.unwrap_or_default())
    }
}

//! Where a takeover starts reading a practice's partition back (`kafka_marks`): a mark
//! (partition, offset, seq) says that no record of the practice with a seq above `seq`
//! lies before `offset` in that partition. Written after a takeover's read-back and,
//! at most once a second, after a committed transaction; only ever a hint that bounds the
//! read-back (an old mark is still true, it only makes the read longer).

use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, Statement, Value};

use crate::db::bind;
use crate::error::AppResult;

#[derive(Debug, Clone, Copy, FromQueryResult)]
pub struct Mark {
    pub partition: i32,
    pub offset: i64,
    pub seq: i64,
}

fn statement(db: &DatabaseConnection, sql: String, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

pub async fn read(db: &DatabaseConnection, bridge: &str, practice_id: &str) -> AppResult<Option<Mark>> {
    let mut values = Vec::new();
    let bridge = bind(bridge.into(), &mut values);
    let practice = bind(practice_id.into(), &mut values);
    let sql = format!(
        "SELECT partition_no AS partition, next_offset AS offset, seq FROM kafka_marks \
         WHERE bridge = {bridge} AND practice_id = {practice}"
    );
    Ok(Mark::find_by_statement(statement(db, sql, values)).one(db).await?)
}

pub async fn write(db: &DatabaseConnection, bridge: &str, practice_id: &str, mark: Mark, now_ms: i64) -> AppResult<()> {
    let mut values = Vec::new();
    let bridge = bind(bridge.into(), &mut values);
    let practice = bind(practice_id.into(), &mut values);
    let partition = bind(mark.partition.into(), &mut values);
    let offset = bind(mark.offset.into(), &mut values);
    let seq = bind(mark.seq.into(), &mut values);
    let now = bind(now_ms.into(), &mut values);
    let sql = format!(
        "INSERT INTO kafka_marks (bridge, practice_id, partition_no, next_offset, seq, updated_at) \
         VALUES ({bridge}, {practice}, {partition}, {offset}, {seq}, {now}) \
         ON CONFLICT (bridge, practice_id) DO UPDATE SET partition_no = excluded.partition_no, \
         next_offset = excluded.next_offset, seq = excluded.seq, updated_at = excluded.updated_at"
    );
    db.execute_raw(statement(db, sql, values)).await?;
    Ok(())
}

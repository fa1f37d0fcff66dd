//! The budget event outbox on SQLite (see [`crate::outbox`]): events are written inside the
//! write transaction that decided them; a claim is one `BEGIN IMMEDIATE` transaction (prune,
//! park, lease), so one claimer at a time across every process on the file.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row};

use super::{after, stamp, timestamp, SqliteStore};
use crate::error::Result;
use crate::outbox::{Claim, EventState, NewEvent, OutboxEvent};
use crate::store::template::{Part, Template};

const PARTS: &[Part] = &[(
    "/*:event_columns*/",
    include_str!("../../../sql/sqlite/event_columns.sql"),
)];

static EVENT_CLAIM: Template =
    Template::new(include_str!("../../../sql/sqlite/event_claim.sql"), PARTS);
static EVENT_LIST: Template =
    Template::new(include_str!("../../../sql/sqlite/event_list.sql"), PARTS);
const EVENT_RECORD: &str = include_str!("../../../sql/sqlite/event_record.sql");
const EVENT_PRUNE: &str = include_str!("../../../sql/sqlite/event_prune.sql");
const EVENT_PARK: &str = include_str!("../../../sql/sqlite/event_park.sql");
const EVENT_ACK: &str = include_str!("../../../sql/sqlite/event_ack.sql");
const EVENT_RETRY: &str = include_str!("../../../sql/sqlite/event_retry.sql");

/// Write one event into the outbox inside the caller's write transaction (a no-op when the
/// key, period and kind already have theirs).
pub(super) async fn record(
    tx: &mut sqlx::SqliteConnection,
    event: &NewEvent,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(EVENT_RECORD)
        .bind(event.key_id)
        .bind(event.group_id)
        .bind(event.ai_model_id)
        .bind(event.external_api_id)
        .bind(event.kind)
        .bind(event.period_key.as_str())
        .bind(event.used)
        .bind(event.limit)
        .bind(event.period_start.map(stamp))
        .bind(stamp(now))
        .execute(tx)
        .await?;
    Ok(())
}

fn millis(row: &SqliteRow, column: &str) -> Result<Option<i64>> {
    Ok(timestamp(row.try_get(column)?).map(|t| t.timestamp_millis()))
}

/// An outbox row (the columns of `sql/sqlite/event_columns.sql`).
fn event_of(row: &SqliteRow) -> Result<OutboxEvent> {
    Ok(OutboxEvent {
        event_id: row.try_get("event_id")?,
        key_id: row.try_get("key_id")?,
        group_id: row.try_get("group_id")?,
        ai_model_id: row.try_get("ai_model_id")?,
        external_api_id: row.try_get("external_api_id")?,
        kind: row.try_get("kind")?,
        used: row.try_get("used")?,
        limit: row.try_get("budget_limit")?,
        period_start: millis(row, "period_start")?,
        state: EventState::parse(row.try_get::<&str, _>("state")?)?,
        attempts: row.try_get("attempts")?,
        consumer: row.try_get("consumer")?,
        leased_until: millis(row, "leased_until")?,
        created_at: millis(row, "created_at")?.unwrap_or_default(),
        acked_at: millis(row, "acked_at")?,
    })
}

impl SqliteStore {
    pub(super) async fn claim_events_in(&self, claim: &Claim) -> Result<Vec<OutboxEvent>> {
        let now = Utc::now();
        let mut conn = self.conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
        let oldest_kept = now
            .checked_sub_signed(
                chrono::Duration::from_std(claim.retention).unwrap_or(chrono::Duration::MAX),
            )
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        sqlx::query(EVENT_PRUNE)
            .bind(stamp(oldest_kept))
            .execute(&mut *tx)
            .await?;
        sqlx::query(EVENT_PARK)
            .bind(claim.max_attempts)
            .bind(stamp(now))
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(AssertSqlSafe(EVENT_CLAIM.get("")))
            .bind(claim.consumer.as_str())
            .bind(stamp(after(now, claim.lease)))
            .bind(claim.max_attempts)
            .bind(stamp(now))
            .bind(claim.limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        self.warm.keep(conn);
        rows.iter().map(event_of).collect()
    }

    pub(super) async fn ack_events_in(&self, ids: &[i64]) -> Result<u64> {
        let now = stamp(Utc::now());
        let mut conn = self.conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
        let mut acked = 0;
        for id in ids {
            acked += sqlx::query(EVENT_ACK)
                .bind(id)
                .bind(now.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        self.warm.keep(conn);
        Ok(acked)
    }

    pub(super) async fn list_events_in(
        &self,
        state: Option<EventState>,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>> {
        let mut conn = self.conn().await?;
        let rows = sqlx::query(AssertSqlSafe(EVENT_LIST.get("")))
            .bind(state.map(EventState::as_str))
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
        self.warm.keep(conn);
        rows.iter().map(event_of).collect()
    }

    pub(super) async fn retry_event_in(&self, id: i64) -> Result<bool> {
        let mut conn = self.conn().await?;
        let done = sqlx::query(EVENT_RETRY)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        self.warm.keep(conn);
        Ok(done > 0)
    }
}

//! The budget event outbox on PostgreSQL (see [`crate::outbox`]): the full statement writes
//! the events it decides (its `outbox` CTE); a settle writes its own here, in its
//! transaction; consumers claim with `FOR UPDATE SKIP LOCKED` in one statement each, so
//! through a transaction-mode pooler too.

use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{AssertSqlSafe, Row};

use super::exec::Kind;
use super::statements::{EVENT_ACK, EVENT_CLAIM, EVENT_LIST, EVENT_RECORD, EVENT_RETRY};
use super::PgStore;
use crate::error::Result;
use crate::outbox::{Claim, EventState, NewEvent, OutboxEvent};

/// Write one event into the outbox inside the caller's transaction (a no-op when the key,
/// period and kind already have theirs).
pub(super) async fn record(
    tx: &mut PgConnection,
    event: &NewEvent,
    persistent: bool,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(EVENT_RECORD)
        .persistent(persistent)
        .bind(event.key_id)
        .bind(event.group_id)
        .bind(event.ai_model_id)
        .bind(event.external_api_id)
        .bind(event.kind)
        .bind(event.period_key.as_str())
        .bind(event.used)
        .bind(event.limit)
        .bind(event.period_start)
        .execute(tx)
        .await?;
    Ok(())
}

/// An outbox row (the columns of `sql/postgres/event_columns.sql`).
fn event_of(row: &PgRow) -> Result<OutboxEvent> {
    Ok(OutboxEvent {
        event_id: row.try_get("event_id")?,
        key_id: row.try_get("key_id")?,
        group_id: row.try_get("group_id")?,
        ai_model_id: row.try_get("ai_model_id")?,
        external_api_id: row.try_get("external_api_id")?,
        kind: row.try_get("kind")?,
        used: row.try_get("used")?,
        limit: row.try_get("budget_limit")?,
        period_start: row.try_get("period_start_ms")?,
        state: EventState::parse(row.try_get::<&str, _>("state")?)?,
        attempts: row.try_get("attempts")?,
        consumer: row.try_get("consumer")?,
        leased_until: row.try_get("leased_until_ms")?,
        created_at: row.try_get("created_at_ms")?,
        acked_at: row.try_get("acked_at_ms")?,
    })
}

impl PgStore {
    pub(super) async fn claim_events(&self, claim: &Claim) -> Result<Vec<OutboxEvent>> {
        let sql = EVENT_CLAIM.get("");
        let rows = self
            .rows(Kind::Write, || {
                sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(claim.consumer.as_str())
                    .bind(claim.limit)
                    .bind(claim.lease.as_millis() as f64)
                    .bind(claim.max_attempts)
                    .bind(claim.retention.as_millis() as f64)
            })
            .await?;
        rows.iter().map(event_of).collect()
    }

    pub(super) async fn ack_events(&self, ids: &[i64]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let rows = self
            .rows(Kind::Write, || sqlx::query(EVENT_ACK).bind(ids))
            .await?;
        Ok(rows.len() as u64)
    }

    pub(super) async fn list_events(
        &self,
        state: Option<EventState>,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>> {
        let sql = EVENT_LIST.get("");
        let rows = self
            .rows(Kind::Read, || {
                sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(state.map(EventState::as_str))
                    .bind(limit)
            })
            .await?;
        rows.iter().map(event_of).collect()
    }

    pub(super) async fn retry_event(&self, id: i64) -> Result<bool> {
        let rows = self
            .rows(Kind::Write, || sqlx::query(EVENT_RETRY).bind(id))
            .await?;
        Ok(!rows.is_empty())
    }
}

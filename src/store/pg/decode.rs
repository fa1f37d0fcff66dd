//! Reading the PostgreSQL backend's result rows, by column name: key records, the key an
//! increment picked, its budget events, and the period a row was read in.

use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::budget::{BudgetEvent, EventKind, Period};
use crate::error::Result;
use crate::model::{KeyRecord, Picked};

/// The period a row was read in (columns `day`, `month`, `day_start`, `month_start`).
pub(super) fn period_of(row: &PgRow) -> Result<Period> {
    Ok(Period {
        day: row.try_get("day")?,
        month: row.try_get("month")?,
        day_start: row.try_get("day_start")?,
        month_start: row.try_get("month_start")?,
    })
}

/// A key record (the columns of `sql/postgres/key_record.sql`, with the current period).
pub(super) fn record(row: &PgRow) -> Result<KeyRecord> {
    super::super::key_record(
        row,
        &period_of(row)?,
        |row, column| Ok(row.try_get(column)?),
    )
}

/// The key a lean statement counted on (named result columns).
pub(super) fn picked_of(row: &PgRow) -> Result<Picked> {
    Ok(Picked {
        id: row.try_get("id")?,
        encrypted_api_key: row.try_get("encrypted_api_key")?,
        encrypted_aes_key: row.try_get("encrypted_aes_key")?,
        day: row.try_get("day")?,
        month: row.try_get("month")?,
    })
}

/// The budget events a full-statement row reports (its `event_*` columns).
pub(super) fn events_of(row: &PgRow) -> Result<Vec<BudgetEvent>> {
    let period = period_of(row)?;
    let used = |c: &str| row.try_get::<f64, _>(c);
    let limit = |c: &str| row.try_get::<Option<f64>, _>(c);
    let (used_day, used_month, used_total) =
        (used("used_day")?, used("used_month")?, used("used_total")?);
    let (limit_day, limit_month, limit_total) = (
        limit("limit_day")?,
        limit("limit_month")?,
        limit("limit_total")?,
    );
    let mut events = Vec::new();
    for (column, kind, used, limit) in [
        (
            "event_daily_threshold",
            EventKind::DailyThreshold,
            used_day,
            limit_day,
        ),
        (
            "event_monthly_threshold",
            EventKind::MonthlyThreshold,
            used_month,
            limit_month,
        ),
        (
            "event_daily_limit",
            EventKind::DailyLimit,
            used_day,
            limit_day,
        ),
        (
            "event_monthly_limit",
            EventKind::MonthlyLimit,
            used_month,
            limit_month,
        ),
        (
            "event_total_limit",
            EventKind::TotalLimit,
            used_total,
            limit_total,
        ),
    ] {
        if row.try_get::<bool, _>(column)? {
            events.push(BudgetEvent {
                key_id: row.try_get("id")?,
                group_id: row.try_get("group_id")?,
                ai_model_id: row.try_get("ai_model_id")?,
                external_api_id: row.try_get("external_api_id")?,
                kind,
                used,
                limit: limit.unwrap_or_default(),
                period_start: kind.period_start(&period),
            });
        }
    }
    Ok(events)
}

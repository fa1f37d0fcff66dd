//! Row readers both backends share, by column name: a candidate key, a reservation's row, a
//! reserve repeated with its `requestId`, and a set of stored copies. (Timestamps are stored differently per backend,
//! so they are read through the caller's `timestamp`.)

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{stored_json, DuplicateSet};
use crate::budget::{self, Candidate};
use crate::error::{Error, Result};
use crate::model::{Picked, Request};
use crate::reservation::{Hold, HoldRow, Reserve};

/// A candidate key (columns `id`, `group_id`, `ai_model_id`, `external_api_id`, `usage`,
/// `configuration`; the JSON columns as text).
pub(crate) fn candidate<R: Row>(r: &R) -> Result<Candidate>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    Ok(Candidate {
        id: r.try_get("id")?,
        group_id: r.try_get("group_id")?,
        ai_model_id: r.try_get("ai_model_id")?,
        external_api_id: r.try_get("external_api_id")?,
        usage: stored_json(r.try_get::<&str, _>("usage")?),
        configuration: stored_json(r.try_get::<&str, _>("configuration")?),
    })
}

/// A reservation's row (the `ps_private_access_holds` columns of `hold_lock.sql`, amounts as
/// decimal text).
pub(crate) fn hold_row<R: Row>(r: &R) -> Result<HoldRow>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    Ok(HoldRow {
        reservation_id: r.try_get("reservation_id")?,
        key_id: r.try_get("key_id")?,
        amount: r.try_get("amount")?,
        state: r.try_get("state")?,
        charged: r.try_get("charged")?,
        overrun: r.try_get("overrun")?,
    })
}

/// A repeat of a reserve's `request` found as `row` (`hold_find.sql`): the first reserve's
/// hold (its key opened afresh by the caller), or a conflict when it asked for another
/// estimate or filter.
pub(crate) fn replayed_hold<R: Row>(
    row: &R,
    request: &Request,
    expires_at: impl Fn(&R) -> Result<Option<DateTime<Utc>>>,
) -> Result<Reserve>
where
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    if row.try_get::<Option<&str>, _>("fingerprint")? != Some(request.fingerprint.as_str()) {
        return Err(Error::RESERVE_CONFLICT);
    }
    let Some(id) = row.try_get::<Option<i64>, _>("id")? else {
        return Ok(Reserve {
            replayed: true,
            ..Reserve::default()
        });
    };
    let amount: String = row.try_get("amount")?;
    Ok(Reserve {
        hold: Some(Hold {
            reservation_id: row.try_get("reservation_id")?,
            picked: Picked {
                id,
                encrypted_api_key: row.try_get("encrypted_api_key")?,
                encrypted_aes_key: row.try_get("encrypted_aes_key")?,
                day: String::new(),
                month: String::new(),
            },
            amount: budget::to_f64(&amount.parse().unwrap_or_default()),
            expires_at: expires_at(row)?.unwrap_or_default(),
        }),
        events: Vec::new(),
        replayed: true,
    })
}

/// A set of stored copies (the columns of `duplicate_keys.sql`).
pub(crate) fn duplicate_set<R: Row>(r: &R) -> Result<DuplicateSet>
where
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    Ok(DuplicateSet::of(
        r.try_get::<&str, _>("ids")?,
        r.try_get("encrypted_api_key")?,
        r.try_get("encrypted_aes_key")?,
    ))
}

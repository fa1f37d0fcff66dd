//! Reservations on PostgreSQL (see [`crate::reservation`]).
//!
//! - A reserve is the full statement with a reservation's parameters: one statement decides
//!   on the locked rows, adds the hold to the granted key's `usage.holds` and records the
//!   reservation. With a `requestId`, a transaction first takes a transaction-scoped advisory
//!   lock on (group, requestId) and looks for the reservation an earlier reserve made with it.
//! - A settle or release locks the reservation's row, then its key's, computes the step with
//!   the budget rules of `crate::budget` (the database's clock and period) and writes both
//!   rows, in one transaction (behind a transaction-mode pooler too: one server connection).

use chrono::DateTime;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{AssertSqlSafe, Connection, Row};

use super::decode::period_of;
use super::exec::Kind;
use super::increment::{full_outcome, HoldParams, Target};
use super::statements::{HOLD_FIND, HOLD_FINISH, HOLD_LOCK, HOLD_REQUEST_LOCK};
use super::PgStore;
use crate::budget;
use crate::error::Result;
use crate::model::{self, Request};
use crate::outbox::NewEvent;
use crate::reservation::{self, Finished, Hold, Reserve, Step};
use crate::store::rows;

/// What a reserve's rows say: the hold on the granted key (the row that carries its API key,
/// and `hold_until`), and every event.
fn reserve_outcome(rows: &[PgRow], reservation_id: &str, estimate: f64) -> Result<Reserve> {
    let (out, _) = full_outcome(rows)?;
    let mut hold = None;
    if let Some(picked) = out.picked {
        let until = rows
            .iter()
            .find(|r| {
                r.try_get::<Option<String>, _>("encrypted_api_key")
                    .ok()
                    .flatten()
                    .is_some()
            })
            .map(|r| r.try_get::<f64, _>("hold_until"))
            .transpose()?
            .unwrap_or_default();
        hold = Some(Hold {
            reservation_id: reservation_id.to_owned(),
            picked,
            amount: budget::to_f64(&budget::amount_decimal(estimate)),
            expires_at: DateTime::from_timestamp_millis(until as i64).unwrap_or_default(),
        });
    }
    Ok(Reserve {
        hold,
        events: out.events,
        replayed: false,
    })
}

impl PgStore {
    /// One reserve (see the module doc).
    pub(super) async fn reserve_hold(
        &self,
        target: &Target,
        estimate: f64,
        ttl: std::time::Duration,
        request: Option<&Request>,
    ) -> Result<Reserve> {
        let reservation_id = model::new_reservation_id();
        let hold = HoldParams {
            reservation_id: &reservation_id,
            ttl_ms: ttl.as_millis() as f64,
            request,
        };
        let Some(request) = request else {
            let rows = self
                .rows(Kind::Write, || {
                    self.full_query(target, estimate, Some(&hold))
                })
                .await?;
            return reserve_outcome(&rows, &reservation_id, estimate);
        };
        let persistent = !self.pooler;
        let group_id = target.key.0;
        let reservation_id = reservation_id.as_str();
        self.run(Kind::Write, |mut conn| {
            let hold = &hold;
            async move {
                let r = async {
                    let mut tx = conn.begin().await?;
                    sqlx::query(HOLD_REQUEST_LOCK)
                        .persistent(persistent)
                        .bind(group_id)
                        .bind(&request.id)
                        .execute(&mut *tx)
                        .await?;
                    let found = sqlx::query(HOLD_FIND)
                        .persistent(persistent)
                        .bind(group_id)
                        .bind(&request.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let out = match found {
                        Some(row) => rows::replayed_hold(&row, request, |r| {
                            Ok(Some(r.try_get("expires_at")?))
                        }),
                        None => {
                            let rows = self
                                .full_query(target, estimate, Some(hold))
                                .persistent(persistent)
                                .fetch_all(&mut *tx)
                                .await?;
                            reserve_outcome(&rows, reservation_id, estimate)
                        }
                    };
                    tx.commit().await?;
                    Ok::<_, sqlx::Error>(out)
                }
                .await;
                (conn, r)
            }
        })
        .await?
    }

    /// Settle (`actual` set) or release (`None`) a reservation (see the module doc).
    pub(super) async fn finish_hold(
        &self,
        reservation_id: &str,
        actual: Option<f64>,
    ) -> Result<Finished> {
        let persistent = !self.pooler;
        self.run(Kind::Write, |mut conn| async move {
            let r = async {
                let mut tx = conn.begin().await?;
                let out = self
                    .finish_in(&mut tx, reservation_id, actual, persistent)
                    .await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(out)
            }
            .await;
            (conn, r)
        })
        .await?
    }

    async fn finish_in(
        &self,
        tx: &mut PgConnection,
        reservation_id: &str,
        actual: Option<f64>,
        persistent: bool,
    ) -> std::result::Result<Result<Finished>, sqlx::Error> {
        let Some(row) = sqlx::query(AssertSqlSafe(HOLD_LOCK.get("")))
            .persistent(persistent)
            .bind(self.tz())
            .bind(reservation_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(Ok(Finished::Unknown));
        };
        let (hold, key) = match rows::hold_row(&row).and_then(|h| Ok((h, rows::candidate(&row)?))) {
            Ok(read) => read,
            Err(e) => return Ok(Err(e)),
        };
        let (period, now_ms) = match (period_of(&row), row.try_get::<i64, _>("now_ms")) {
            (Ok(period), Ok(now_ms)) => (period, now_ms),
            (Err(e), _) => return Ok(Err(e)),
            (_, Err(e)) => return Err(e),
        };
        let step =
            match reservation::step(&hold, &key, actual, &period, self.budget.enforce, now_ms) {
                Ok(step) => step,
                Err(e) => return Ok(Err(e)),
            };
        if let Step::Write {
            usage,
            state,
            charged,
            overrun,
            ..
        } = &step
        {
            sqlx::query(HOLD_FINISH)
                .persistent(persistent)
                .bind(key.id)
                .bind(usage.to_string())
                .bind(reservation_id)
                .bind(*state)
                .bind(charged.as_deref())
                .bind(overrun.as_deref())
                .bind(self.budget.request_retention.as_millis() as f64)
                .execute(&mut *tx)
                .await?;
        }
        // The events the charge fired, into the outbox in this transaction.
        if let Step::Write {
            settled: Some(settled),
            ..
        } = &step
        {
            for event in &settled.events {
                super::events::record(&mut *tx, &NewEvent::of(event, &period), persistent).await?;
            }
        }
        Ok(Ok(Finished::of(step)))
    }
}

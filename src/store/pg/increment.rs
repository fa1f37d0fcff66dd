//! One increment decided on its own: the lean statement when a hint lets it decide (granted,
//! no budget event), else the full statement with the whole budget decision.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};

use super::batch::BatchKey;
use super::cross::LeanCall;
use super::decode::{events_of, picked_of};
use super::exec::{Kind, PgQuery};
use super::hints::LeanHint;
use super::statements::{INCREMENT_BUDGET, INCREMENT_LEAN};
use super::PgStore;
use crate::error::Result;
use crate::model::{KeyFilter, Request};
use crate::store::Increment;

/// Where the filter's values start in `increment_lean.sql` (after its nine parameters).
pub(super) const LEAN_FILTER_FROM: usize = 10;
/// Where the filter's values start in `increment_budget.sql` (after its nine parameters).
pub(super) const FULL_FILTER_FROM: usize = 10;

/// A reservation's parameters of the full statement (`$5` to `$9`; all NULL for an
/// increment).
pub(super) struct HoldParams<'a> {
    pub(super) reservation_id: &'a str,
    pub(super) ttl_ms: f64,
    pub(super) request: Option<&'a Request>,
}

/// One increment's target: the group and filter (also the key calls are coalesced and hints
/// kept by), and the filter clause as the lean statement numbers it.
pub(super) struct Target {
    pub(super) key: BatchKey,
    pub(super) filter: KeyFilter,
    pub(super) lean_cond: String,
}

impl Target {
    /// A lean call of `amount` on this target with its hint.
    pub(super) fn lean_call(&self, hint: Arc<LeanHint>, amount: f64) -> LeanCall {
        LeanCall {
            group_id: self.key.0,
            filter: self.filter,
            hint,
            amount,
        }
    }
}

/// What the full statement's rows say: the granted key (the row that carries its API key;
/// keys that refused the call do not), every event, and the lean hint for the next calls.
pub(super) fn full_outcome(rows: &[PgRow]) -> Result<(Increment, Option<LeanHint>)> {
    let mut out = Increment::default();
    let mut hint = None;
    for row in rows {
        if row
            .try_get::<Option<String>, _>("encrypted_api_key")?
            .is_some()
        {
            out.picked = Some(picked_of(row)?);
            hint = LeanHint::of(row)?;
        }
        out.events.extend(events_of(row)?);
    }
    Ok((out, hint))
}

impl PgStore {
    /// One call decided on its own: the lean common path, else the full statement.
    pub(super) async fn increment_alone(&self, target: &Target, amount: f64) -> Result<Increment> {
        // The common path first: granted, no event. Nothing updated: the full statement.
        // Without a hint for this group and filter (its first call here) the lean statement
        // cannot decide, so the full one goes first.
        if let Some(hint) = self.hint(target) {
            let call = target.lean_call(hint, amount);
            if let Some(picked) = self.lean(target, call).await? {
                return Ok(Increment {
                    picked: Some(picked),
                    events: Vec::new(),
                    replayed: false,
                });
            }
        }
        self.full_sent.fetch_add(1, Ordering::Relaxed);
        let rows = self
            .rows(Kind::Write, || self.full_query(target, amount, None))
            .await?;
        let (out, hint) = full_outcome(&rows)?;
        self.keep_hint(target, hint);
        Ok(out)
    }

    /// The full statement (`increment_budget.sql`) for `target`: an increment of `amount`, or
    /// with `hold` a reservation of it.
    pub(super) fn full_query<'q>(
        &self,
        target: &'q Target,
        amount: f64,
        hold: Option<&'q HoldParams<'q>>,
    ) -> PgQuery<'q> {
        let (group_id, cond, binds) = &target.key;
        let request = hold.and_then(|h| h.request);
        let mut q = sqlx::query(AssertSqlSafe(INCREMENT_BUDGET.get(cond)))
            .bind(self.tz())
            .bind(*group_id)
            .bind(amount)
            .bind(self.budget.enforce)
            .bind(hold.map(|h| h.reservation_id))
            .bind(hold.map(|h| h.ttl_ms))
            .bind(request.map(|r| r.id.as_str()))
            .bind(request.map(|r| r.fingerprint.as_str()))
            .bind(self.budget.request_retention.as_millis() as f64);
        for b in binds {
            q = q.bind(*b);
        }
        q
    }

    /// The lean statement for `target` with the hint's limits (see `increment_lean.sql`).
    pub(super) async fn run_lean(
        &self,
        target: &Target,
        hint: &LeanHint,
        amount: f64,
    ) -> Result<Vec<PgRow>> {
        let (group_id, _, binds) = &target.key;
        let sql = INCREMENT_LEAN.get(&target.lean_cond);
        // Limits only refuse when budgets are enforced; thresholds fire either way.
        let enforce = self.budget.enforce;
        let [limit_day, limit_month, limit_total] =
            [&hint.limit_day, &hint.limit_month, &hint.limit_total]
                .map(|limit| limit.as_deref().filter(|_| enforce));
        let rows = self
            .rows(Kind::Write, || {
                let mut q = sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(self.tz())
                    .bind(*group_id)
                    .bind(amount)
                    .bind(hint.configuration_sha256.as_str())
                    .bind(limit_day)
                    .bind(limit_month)
                    .bind(limit_total)
                    .bind(hint.day_threshold_at.as_deref())
                    .bind(hint.month_threshold_at.as_deref());
                for b in binds {
                    q = q.bind(*b);
                }
                q
            })
            .await?;
        if !rows.is_empty() {
            self.lean_counted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(rows)
    }
}

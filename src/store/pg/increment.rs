//! One increment decided on its own: the lean statement when a hint lets it decide (granted,
//! no budget event), else the full statement with the whole budget decision.

use std::sync::atomic::Ordering;

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};

use super::batch::BatchKey;
use super::decode::{events_of, picked_of};
use super::exec::Kind;
use super::hints::LeanHint;
use super::statements::{INCREMENT_BUDGET, INCREMENT_LEAN};
use super::PgStore;
use crate::error::Result;
use crate::store::Increment;

/// Where the filter's values start in `increment_lean.sql` (after its nine parameters).
pub(super) const LEAN_FILTER_FROM: usize = 10;

/// One increment's target: the group and filter (also the key calls are coalesced and hints
/// kept by), and the filter clause as the lean statement numbers it.
pub(super) struct Target {
    pub(super) key: BatchKey,
    pub(super) lean_cond: String,
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
            let lean = self.run_lean(target, &hint, amount).await?;
            if let Some(row) = lean.first() {
                return Ok(Increment {
                    picked: Some(picked_of(row)?),
                    events: Vec::new(),
                    replayed: false,
                });
            }
        }
        let (group_id, cond, binds) = &target.key;
        self.full_sent.fetch_add(1, Ordering::Relaxed);
        let rows = self
            .rows(Kind::Write, || {
                let mut q = sqlx::query(AssertSqlSafe(INCREMENT_BUDGET.get(cond)))
                    .bind(self.tz())
                    .bind(*group_id)
                    .bind(amount)
                    .bind(self.budget.enforce);
                for b in binds {
                    q = q.bind(*b);
                }
                q
            })
            .await?;
        let (out, hint) = full_outcome(&rows)?;
        self.keep_hint(target, hint);
        Ok(out)
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
                    .bind(hint.configuration.as_str())
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

//! The one-statement increment (SQLite's lean path): the common call — no `requestId`, granted
//! by the group's first active matching key with no budget event — decided by
//! [`budget::decide`] on that key's row as this process last wrote or read it, and written in
//! one autocommit statement (`increment_lean.sql`) that writes only while the row still is
//! that row. Any other call, and any call whose row changed meanwhile (another process, a
//! reservation, an operator's edit), goes to the `BEGIN IMMEDIATE` transaction as before,
//! which reads the rows afresh. The decision is the same function on the same row state, so
//! the two paths cannot disagree (`tests/differential.rs` runs both against PostgreSQL).
//!
//! In one process one lean call is under way at a time, so lean calls never race each other
//! on the row they last saw; a call that finds one under way goes to the transaction (with
//! many calls in flight that is the faster path: it does not wait for its turn).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row};

use super::statements::INCREMENT_LEAN;
use super::SqliteStore;
use crate::budget::{self, Candidate, Decision, Period};
use crate::error::Result;
use crate::model::{KeyFilter, Picked};
use crate::store::filter_sql;

/// Rows remembered at most; past this the map starts over.
const SEEN_MAX: usize = 10_000;

/// A group's first active matching key as last written or read here: the row the lean
/// statement expects to find, as text (compared as stored), and as the decision reads it.
pub(super) struct Seen {
    pub(super) candidate: Candidate,
    pub(super) usage_text: String,
    pub(super) configuration_text: String,
}

/// The lean path's state: the rows seen per (group, filter), the turn lean calls take, and
/// whether the path is on.
pub(super) struct Lean {
    seen: Mutex<HashMap<(i64, KeyFilter), Arc<Seen>>>,
    turn: tokio::sync::Mutex<()>,
    on: AtomicBool,
    counted: AtomicU64,
}

impl Default for Lean {
    fn default() -> Lean {
        Lean {
            seen: Mutex::default(),
            turn: tokio::sync::Mutex::new(()),
            on: AtomicBool::new(true),
            counted: AtomicU64::new(0),
        }
    }
}

impl Lean {
    fn get(&self, key: &(i64, KeyFilter)) -> Option<Arc<Seen>> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(key).cloned()
    }

    /// Remember `row` for (group, filter), or forget what was seen there.
    pub(super) fn keep(&self, key: (i64, KeyFilter), row: Option<Seen>) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match row {
            Some(row) => {
                if seen.len() >= SEEN_MAX && !seen.contains_key(&key) {
                    seen.clear();
                }
                seen.insert(key, Arc::new(row));
            }
            None => {
                seen.remove(&key);
            }
        }
    }
}

/// What the lean path may count on next for a (group, filter), after a decision in a
/// transaction: the first candidate as written when the decision granted it, else nothing.
pub(super) fn seen_after(
    found: &[SqliteRow],
    candidates: &[Candidate],
    decision: &Decision,
) -> Result<Option<Seen>> {
    let (Some(row), Some(first)) = (found.first(), candidates.first()) else {
        return Ok(None);
    };
    if decision.granted != Some(first.id) {
        return Ok(None);
    }
    let mut candidate = first.clone();
    let usage_text = match decision.writes.iter().find(|w| w.id == first.id) {
        Some(w) => {
            candidate.usage = w.usage.clone();
            w.usage.to_string()
        }
        None => row.try_get("usage")?,
    };
    Ok(Some(Seen {
        candidate,
        usage_text,
        configuration_text: row.try_get("configuration")?,
    }))
}

impl SqliteStore {
    /// Turn the one-statement path off (every increment in a transaction) or on again: for
    /// the differential test and the benchmark, which compare both paths.
    #[doc(hidden)]
    pub fn set_lean_path(&self, on: bool) {
        self.lean.on.store(on, Ordering::Relaxed);
        if !on {
            self.lean
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
        }
    }

    /// Increments the one-statement path counted since the store was opened (a diagnostic).
    pub fn lean_counted(&self) -> u64 {
        self.lean.counted.load(Ordering::Relaxed)
    }

    /// Whether the one-statement path is on (the full path remembers rows only then).
    pub(super) fn lean_on(&self) -> bool {
        self.lean.on.load(Ordering::Relaxed)
    }

    /// The increment in one statement, when this process has seen the group's first key and
    /// the decision on it is a grant with no event; `None`: not counted, decide in a
    /// transaction.
    pub(super) async fn increment_lean(
        &self,
        group_id: i64,
        filter: &KeyFilter,
        amount: f64,
    ) -> Result<Option<Picked>> {
        let key = (group_id, *filter);
        if !self.lean_on() || self.lean.get(&key).is_none() {
            return Ok(None);
        }
        // Only when no other lean call is under way: a call that waited for its turn would
        // find the row written by the one before and commit alone after it, one at a time;
        // in a transaction it overlaps with them as before the lean path existed.
        let Ok(_turn) = self.lean.turn.try_lock() else {
            return Ok(None);
        };
        // Read again in turn: the call before may have written the row.
        let Some(seen) = self.lean.get(&key) else {
            return Ok(None);
        };
        let now = Utc::now();
        let period = Period::at(now, self.budget.timezone);
        let decision = budget::decide(
            std::slice::from_ref(&seen.candidate),
            amount,
            &period,
            self.budget.enforce,
            now.timestamp_millis(),
            None,
        );
        let id = seen.candidate.id;
        let [write] = decision.writes.as_slice() else {
            return Ok(None);
        };
        if decision.granted != Some(id) || write.id != id || !decision.events.is_empty() {
            return Ok(None);
        }
        let usage_text = write.usage.to_string();
        let (cond, binds) = filter_sql(filter, '?', 6);
        let mut q = sqlx::query(AssertSqlSafe(INCREMENT_LEAN.get(&cond)))
            .bind(id)
            .bind(group_id)
            .bind(&seen.usage_text)
            .bind(&seen.configuration_text)
            .bind(&usage_text);
        for b in binds {
            q = q.bind(b);
        }
        let mut conn = self.conn().await?;
        let row = q.fetch_optional(&mut *conn).await?;
        self.warm.keep(conn);
        let Some(row) = row else {
            // The row changed (or is no longer the first): forget it, decide in a transaction.
            self.lean.keep(key, None);
            return Ok(None);
        };
        let picked = Picked {
            id,
            encrypted_api_key: row.try_get("encrypted_api_key")?,
            encrypted_aes_key: row.try_get("encrypted_aes_key")?,
            day: period.day.clone(),
            month: period.month.clone(),
        };
        let mut candidate = seen.candidate.clone();
        candidate.usage = write.usage.clone();
        self.lean.keep(
            key,
            Some(Seen {
                candidate,
                usage_text,
                configuration_text: seen.configuration_text.clone(),
            }),
        );
        self.lean.counted.fetch_add(1, Ordering::Relaxed);
        Ok(Some(picked))
    }
}

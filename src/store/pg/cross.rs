//! Cross-key batching: lean calls on different keys that wait at the same moment are sent as
//! one statement (`increment_lean_many.sql`): one round trip and one commit for all of them.
//!
//! No timers. A lean call is sent at once, alone, while fewer than [`CrossBatcher`]'s
//! statements are in flight; otherwise it queues. When a statement in flight finishes, the
//! calls queued meanwhile (one per group, in ascending group order: the global lock order
//! that keeps batches of every process from deadlocking) go as one batch, led by the first
//! of them. A call the batch does not count (refusal, event, failover, a changed
//! configuration, holds) is untouched by it and goes on alone, exactly as without batching.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use sqlx::{AssertSqlSafe, Row};

use super::decode::picked_of;
use super::exec::Kind;
use super::hints::LeanHint;
use super::increment::Target;
use super::statements::INCREMENT_LEAN_MANY;
use super::PgStore;
use crate::error::{Error, Result};
use crate::model::{ActiveFilter, IdFilter, KeyFilter, Picked};

/// Calls sent in one batch at most (the rest wait for the next).
const BATCH_MAX: usize = 256;

/// One lean call: what the batch statement needs to decide it.
#[derive(Clone)]
pub(super) struct LeanCall {
    pub(super) group_id: i64,
    pub(super) filter: KeyFilter,
    pub(super) hint: Arc<LeanHint>,
    pub(super) amount: f64,
}

/// What a lean call learns: the key it was counted on, or `None` (not counted: decide alone).
pub(super) type LeanOutcome = Result<Option<Picked>>;

struct Queued {
    call: LeanCall,
    reply: tokio::sync::oneshot::Sender<Reply>,
}

enum Reply {
    Done(LeanOutcome),
    /// Lead a batch of these calls and this one (this call holds a statement slot now).
    Lead(Vec<Queued>),
}

/// The lean statements in flight and the calls waiting for one of them to finish.
pub(super) struct CrossBatcher {
    state: Mutex<State>,
    /// Statements in flight before calls queue (see [`CrossBatcher::new`]).
    depth: usize,
}

#[derive(Default)]
struct State {
    in_flight: usize,
    queue: Vec<Queued>,
}

impl CrossBatcher {
    /// `depth`: how many lean statements may be in flight before calls queue for a batch.
    pub(super) fn new(depth: usize) -> CrossBatcher {
        CrossBatcher {
            state: Mutex::default(),
            depth: depth.max(1),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A statement slot was freed: the calls queued meanwhile (one per group, at most
    /// [`BATCH_MAX`]) go to the first of them to lead as a batch; none queued frees the slot.
    fn hand_on(&self) {
        loop {
            let mut batch = {
                let mut state = self.state();
                let mut groups = HashSet::new();
                let mut taken = Vec::new();
                let mut kept = Vec::new();
                for q in state.queue.drain(..) {
                    if taken.len() < BATCH_MAX && groups.insert(q.call.group_id) {
                        taken.push(q);
                    } else {
                        kept.push(q);
                    }
                }
                state.queue = kept;
                if taken.is_empty() {
                    state.in_flight -= 1;
                    return;
                }
                taken
            };
            // The first call that is still waiting leads (a call whose future was dropped
            // cannot: its entry comes back and the next one is asked).
            while !batch.is_empty() {
                let first = batch.remove(0);
                match first.reply.send(Reply::Lead(batch)) {
                    Ok(()) => return,
                    Err(Reply::Lead(back)) => batch = back,
                    Err(Reply::Done(_)) => return,
                }
            }
        }
    }
}

/// Holds a statement slot; freeing it hands the slot on (also when a leader is dropped).
struct Slot<'a>(&'a CrossBatcher);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.hand_on();
    }
}

/// The filter as the batch statement's per-call columns: (mode, value) for `ai_model_id` and
/// `external_api_id` (0 any, 1 IS NULL, 2 equal), and the `is_active` mode (0 any, 1 IS NULL,
/// 2 not false, 3 false).
fn filter_modes(filter: &KeyFilter) -> ((i32, i64), (i32, i64), i32) {
    let id = |f: IdFilter| match f {
        IdFilter::Any => (0, 0),
        IdFilter::Null => (1, 0),
        IdFilter::Eq(v) => (2, v),
    };
    let active = match filter.is_active {
        ActiveFilter::Any => 0,
        ActiveFilter::Null => 1,
        ActiveFilter::Is(true) => 2,
        ActiveFilter::Is(false) => 3,
    };
    (id(filter.ai_model_id), id(filter.external_api_id), active)
}

impl PgStore {
    /// The lean statement for one call, batched with calls on other keys when statements are
    /// already in flight (see the module doc); alone without a batcher.
    pub(super) async fn lean(&self, target: &Target, call: LeanCall) -> LeanOutcome {
        let Some(batcher) = &self.cross else {
            return self.lean_alone(target, &call).await;
        };
        let waiting = {
            let mut state = batcher.state();
            if state.in_flight < batcher.depth {
                state.in_flight += 1;
                None
            } else {
                let (reply, answer) = tokio::sync::oneshot::channel();
                state.queue.push(Queued {
                    call: call.clone(),
                    reply,
                });
                Some(answer)
            }
        };
        let Some(answer) = waiting else {
            let _slot = Slot(batcher);
            return self.lean_alone(target, &call).await;
        };
        match answer.await {
            Ok(Reply::Done(outcome)) => outcome,
            Ok(Reply::Lead(others)) => {
                let _slot = Slot(batcher);
                self.lead(target, &call, others).await
            }
            // The batcher went away without answering: nothing was sent for this call.
            Err(_) => Ok(None),
        }
    }

    /// One call's lean statement, alone (`increment_lean.sql`).
    async fn lean_alone(&self, target: &Target, call: &LeanCall) -> LeanOutcome {
        let rows = self.run_lean(target, &call.hint, call.amount).await?;
        rows.first().map(picked_of).transpose()
    }

    /// Lead a batch: this call and the calls handed over, as one statement; answer them
    /// and return this call's outcome.
    async fn lead(&self, target: &Target, own: &LeanCall, others: Vec<Queued>) -> LeanOutcome {
        if others.is_empty() {
            return self.lean_alone(target, own).await;
        }
        let mut calls: Vec<&LeanCall> = others.iter().map(|q| &q.call).collect();
        calls.push(own);
        let mut outcomes = self.lean_many(&calls).await.into_iter();
        for q in others {
            let outcome = outcomes.next().unwrap_or(Ok(None));
            let _ = q.reply.send(Reply::Done(outcome));
        }
        outcomes.next().unwrap_or(Ok(None))
    }

    /// Decide `calls` (distinct groups) in one statement; one outcome per call, in order.
    async fn lean_many(&self, calls: &[&LeanCall]) -> Vec<LeanOutcome> {
        // Ascending group order: the order rows are locked in (see the statement).
        let mut order: Vec<usize> = (0..calls.len()).collect();
        order.sort_by_key(|&i| calls[i].group_id);
        let enforce = self.budget.enforce;
        let limit = |l: &Option<String>| l.clone().filter(|_| enforce);
        let mut cols = Columns::default();
        for &i in &order {
            let c = calls[i];
            let ((model_mode, model_id), (api_mode, api_id), active) = filter_modes(&c.filter);
            cols.group.push(c.group_id);
            cols.amount.push(c.amount);
            cols.sha.push(c.hint.configuration_sha256.clone());
            cols.limit_day.push(limit(&c.hint.limit_day));
            cols.limit_month.push(limit(&c.hint.limit_month));
            cols.limit_total.push(limit(&c.hint.limit_total));
            cols.day_at.push(c.hint.day_threshold_at.clone());
            cols.month_at.push(c.hint.month_threshold_at.clone());
            cols.model_mode.push(model_mode);
            cols.model_id.push(model_id);
            cols.api_mode.push(api_mode);
            cols.api_id.push(api_id);
            cols.active.push(active);
        }
        let sql = INCREMENT_LEAN_MANY.get("");
        let result = self
            .rows(Kind::Write, || {
                sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(self.tz())
                    .bind(&cols.group)
                    .bind(&cols.amount)
                    .bind(&cols.sha)
                    .bind(&cols.limit_day)
                    .bind(&cols.limit_month)
                    .bind(&cols.limit_total)
                    .bind(&cols.day_at)
                    .bind(&cols.month_at)
                    .bind(&cols.model_mode)
                    .bind(&cols.model_id)
                    .bind(&cols.api_mode)
                    .bind(&cols.api_id)
                    .bind(&cols.active)
            })
            .await;
        let mut outcomes: Vec<LeanOutcome> = (0..calls.len()).map(|_| Ok(None)).collect();
        match result {
            Ok(rows) => {
                self.cross_batches.fetch_add(1, Ordering::Relaxed);
                for row in &rows {
                    let picked = row
                        .try_get::<i64, _>("n")
                        .map_err(Error::from)
                        .and_then(|n| Ok((n, picked_of(row)?)));
                    match picked {
                        Ok((n, picked)) => {
                            if let Some(&i) = usize::try_from(n - 1).ok().and_then(|n| order.get(n))
                            {
                                outcomes[i] = Ok(Some(picked));
                            }
                        }
                        // A row that cannot be read: its call's outcome is not known.
                        Err(e) => {
                            return (0..calls.len()).map(|_| Err(e.clone())).collect();
                        }
                    }
                }
                self.lean_counted
                    .fetch_add(rows.len() as u64, Ordering::Relaxed);
            }
            // Sent and perhaps committed, or no server: every call in it learns so.
            Err(e @ (Error::DbOutcomeUnknown(_) | Error::DbUnavailable { .. })) => {
                return (0..calls.len()).map(|_| Err(e.clone())).collect();
            }
            // Refused by the server: nothing was written; each call decides alone.
            Err(_) => {}
        }
        outcomes
    }
}

/// The batch statement's parameter arrays, one element per call in lock order.
#[derive(Default)]
struct Columns {
    group: Vec<i64>,
    amount: Vec<f64>,
    sha: Vec<String>,
    limit_day: Vec<Option<String>>,
    limit_month: Vec<Option<String>>,
    limit_total: Vec<Option<String>>,
    day_at: Vec<Option<String>>,
    month_at: Vec<Option<String>>,
    model_mode: Vec<i32>,
    model_id: Vec<i64>,
    api_mode: Vec<i32>,
    api_id: Vec<i64>,
    active: Vec<i32>,
}

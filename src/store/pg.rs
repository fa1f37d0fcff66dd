//! PostgreSQL: all SQL of this backend.
//!
//! The budget rules of [`crate::budget`] are stated here in SQL, inside the one increment
//! statement, so that any number of processes on any number of machines decide on the same
//! locked row state with the database's clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, Postgres, Row};

use super::{filter_sql, Increment, Store, Warm};
use crate::budget::{self, BudgetEvent, BudgetStatus, EventKind, Period};
use crate::config::{BudgetSettings, DbTarget, PoolSettings};
use crate::error::{Error, Result};
use crate::model::{KeyFilter, KeyRecord, NewKey, Picked, Usage};
use crate::rotation::{Rewrap, WrappedKey};

const MIGRATION: &str =
    include_str!("../../migrations/postgres/0001_create_ps_private_access_store.sql");
/// Advisory lock id serializing the create-table migration across processes ("pspas" in hex).
const MIGRATION_LOCK: i64 = 0x0070_7370_6173;

/// The statements of this backend, one file each under `sql/postgres/` (read them there).
/// Shared parts are spliced in at `/*:name*/` markers: the period head (`period.sql`), the
/// budget of a candidate row (`key_budget.sql`), the columns of a key record
/// (`key_record.sql`); a call's filter clause goes where `/*:filter*/` stands. Results are
/// read by column name.
mod statements {
    pub const PERIOD: &str = include_str!("../../sql/postgres/period.sql");
    pub const KEY_BUDGET: &str = include_str!("../../sql/postgres/key_budget.sql");
    pub const KEY_RECORD: &str = include_str!("../../sql/postgres/key_record.sql");
    pub const INSERT: &str = include_str!("../../sql/postgres/insert.sql");
    pub const LIST: &str = include_str!("../../sql/postgres/list.sql");
    pub const BUDGET_ROW: &str = include_str!("../../sql/postgres/budget_row.sql");
    pub const INCREMENT_LEAN: &str = include_str!("../../sql/postgres/increment_lean.sql");
    pub const INCREMENT_BUDGET: &str = include_str!("../../sql/postgres/increment_budget.sql");
    pub const UNDO_INCREMENT: &str = include_str!("../../sql/postgres/undo_increment.sql");
    pub const SET_ACTIVE: &str = include_str!("../../sql/postgres/set_active.sql");
    pub const TABLE_EXISTS: &str = include_str!("../../sql/postgres/table_exists.sql");
    pub const WRAPPED_KEYS: &str = include_str!("../../sql/postgres/wrapped_keys.sql");
    pub const REPLACE_WRAPPED_KEYS: &str =
        include_str!("../../sql/postgres/replace_wrapped_keys.sql");
    pub const COUNT_KEYS: &str = include_str!("../../sql/postgres/count_keys.sql");
}
use statements::*;

/// `template` with its shared parts and the filter clause `filter` spliced in.
fn render(template: &str, filter: &str) -> String {
    template
        .replace("/*:period*/", PERIOD)
        .replace("/*:key_budget*/", KEY_BUDGET)
        .replace("/*:key_record*/", KEY_RECORD)
        .replace("/*:filter*/", filter)
}

/// `template` rendered for a filter shape, once per (statement, shape) and then reused: the
/// hot path neither re-renders nor allocates its SQL. Bounded: a handful of templates times
/// the filter shapes `filter_sql` produces (three states for each of three filters).
fn statement(template: &'static str, filter: &str) -> &'static str {
    type Rendered = HashMap<(usize, String), &'static str>;
    static RENDERED: OnceLock<Mutex<Rendered>> = OnceLock::new();
    let mut rendered = RENDERED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let key = (template.as_ptr() as usize, filter.to_owned());
    if let Some(sql) = rendered.get(&key) {
        return sql;
    }
    let sql: &'static str = Box::leak(render(template, filter).into_boxed_str());
    rendered.insert(key, sql);
    sql
}

/// The full increment statement for a filter (`sql/postgres/increment_budget.sql`): `$1`
/// timezone, `$2` group, `$3` amount, `$4` enforce, then the filter's values from `$5`.
/// Public so the benchmark's diagnostic loop issues exactly this statement (see
/// `benches/increment-pg.sql` and `tests/bench_sql.rs`).
pub fn increment_statement(filter: &KeyFilter) -> String {
    render(INCREMENT_BUDGET, &filter_sql(filter, '$', 5).0)
}

/// The period a row was read in (columns `day`, `month`, `day_start`, `month_start`).
fn period_of(row: &PgRow) -> Result<Period> {
    Ok(Period {
        day: row.try_get("day")?,
        month: row.try_get("month")?,
        day_start: row.try_get("day_start")?,
        month_start: row.try_get("month_start")?,
    })
}

pub struct PgStore {
    pool: PgPool,
    budget: BudgetSettings,
    /// Behind a transaction-mode pooler (PgBouncer, Supabase, Neon…): no named statements.
    pooler: bool,
    options: PgConnectOptions,
    target: String,
    /// The last direct probe of the server (single-flight: calls waiting at once share one).
    probe: tokio::sync::Mutex<Option<(std::time::Instant, std::result::Result<(), String>)>>,
    /// Calls waiting behind an in-flight statement on the same key (see [`Coalescer`]).
    coalescer: Option<Coalescer>,
    /// What the lean statement needs per (group, filter) (see [`LeanHint`]).
    hints: Mutex<HashMap<BatchKey, Arc<LeanHint>>>,
    /// Increments counted by the lean statement, and full statements sent.
    lean_counted: AtomicU64,
    full_sent: AtomicU64,
    /// Connections kept between statements (see [`Warm`]).
    warm: Warm<Postgres>,
}

/// What `increment_lean.sql` needs to decide calls for one (group, filter) without reading
/// the limits out of `configuration` itself: the configuration of the key the full statement
/// last granted there, and the limits and threshold amounts PostgreSQL derived from it, as
/// exact decimal text. The lean statement counts only on a row that still holds exactly this
/// configuration, so a stale hint costs one statement that counts nothing, never a wrong
/// decision.
struct LeanHint {
    configuration: String,
    limit_day: Option<String>,
    limit_month: Option<String>,
    limit_total: Option<String>,
    day_threshold_at: Option<String>,
    month_threshold_at: Option<String>,
}

impl LeanHint {
    /// The hint carried by the granted row of a full statement (its `hint_*` columns).
    fn of(row: &PgRow) -> Result<Option<LeanHint>> {
        let text = |c: &str| row.try_get::<Option<String>, _>(c);
        let Some(configuration) = text("hint_configuration")? else {
            return Ok(None);
        };
        Ok(Some(LeanHint {
            configuration,
            limit_day: text("hint_limit_day")?,
            limit_month: text("hint_limit_month")?,
            limit_total: text("hint_limit_total")?,
            day_threshold_at: text("hint_day_threshold_at")?,
            month_threshold_at: text("hint_month_threshold_at")?,
        }))
    }
}

/// Hints kept at most; past this the map starts over (each entry is a configuration and a few
/// numbers, so this bounds it to a few megabytes).
const HINTS_MAX: usize = 10_000;
/// Where the filter's values start in `increment_lean.sql` (after its nine parameters).
const LEAN_FILTER_FROM: usize = 10;

/// One increment's target: the group and filter (also the key calls are coalesced and hints
/// kept by), and the filter clause as the lean statement numbers it.
struct Target {
    key: BatchKey,
    lean_cond: String,
}

/// Natural batching of calls on one key: a call that finds a statement for the same (group,
/// filters) in flight waits for it instead of queueing on the row lock; when that statement
/// is done, everything that queued meanwhile is sent as one lean statement counting the sum.
/// No timers: a call alone is sent at once. A batch is all-or-nothing: if the sum is not
/// granted without a budget event, every call in it is decided alone (lean, then full
/// statement), as without coalescing — so exactness, failover order and exactly-once events
/// are unchanged.
#[derive(Default)]
struct Coalescer {
    waiting: Mutex<HashMap<BatchKey, Vec<Waiter>>>,
}

type BatchKey = (i64, String, Vec<i64>);

struct Waiter {
    amount: f64,
    reply: tokio::sync::oneshot::Sender<Answer>,
}

/// What a queued call learns from the statement its batch was sent in.
enum Answer {
    /// The batch was granted on this key (its share counted).
    Granted(Picked),
    /// The batch statement failed; the error applies to every call in it.
    Failed(Error),
    /// Not granted as a batch: decide alone (lean, then the full statement).
    Alone,
    /// Queued behind a batch: join the next round (one of these calls leads it).
    Again,
}

/// Frees a key if its leader stops before handing on (the queued calls then decide alone).
struct Lead<'a> {
    coalescer: &'a Coalescer,
    key: &'a BatchKey,
}

impl Lead<'_> {
    /// Free the key and return the calls still queued on it.
    fn finish(self) -> Vec<Waiter> {
        let rest = self.release();
        std::mem::forget(self);
        rest
    }
    fn release(&self) -> Vec<Waiter> {
        let mut waiting = self
            .coalescer
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        waiting.remove(self.key).unwrap_or_default()
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        // Dropping the queued senders wakes their calls with "decide alone".
        drop(self.release());
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// Whether a statement writes: a write whose connection broke after it was sent may have
/// committed, so it is never resent; a read is.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Read,
    Write,
}

/// A pool acquire slower than this asks the server directly whether it is there at all.
const PROBE_AFTER: Duration = Duration::from_millis(500);
/// How long that direct connection attempt may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts of a statement whose failure proves it did not commit.
const ATTEMPTS: u32 = 6;
/// How long a call keeps trying to reach a server that refuses or resets connections (a
/// restart) before it reports `PSPAS_DB_UNAVAILABLE`: about a second, never the acquire timeout.
const UNAVAILABLE_GRACE: Duration = Duration::from_millis(1000);

/// The pause before attempt `n` (1-based): 10, 20, 40, 80, 160 ms, plus up to 5 ms of jitter.
fn backoff(n: u32) -> Duration {
    Duration::from_millis((5u64 << n.min(6)) + rand::random::<u64>() % 5)
}

/// What a failed statement tells about its outcome (see README, "Failures and retries").
enum Failure {
    /// The server reported an error that aborts the statement's transaction: nothing was
    /// committed, and the same statement may run again (serialization failure, deadlock,
    /// administrator or crash shutdown of the backend before the commit).
    Retry,
    /// The connection broke while the statement was in flight: it may or may not have committed.
    InFlight,
    /// Anything else: reported as is.
    Other,
}

fn classify(e: &sqlx::Error) -> Failure {
    match e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("40001" | "40P01" | "57P01" | "57P02") => Failure::Retry,
            _ => Failure::Other,
        },
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => Failure::InFlight,
        _ => Failure::Other,
    }
}

/// A key record (the columns of `sql/postgres/key_record.sql`).
fn record(row: &PgRow) -> Result<KeyRecord> {
    let period = period_of(row)?;
    let usage: serde_json::Value =
        serde_json::from_str(row.try_get::<&str, _>("usage")?).unwrap_or_default();
    Ok(KeyRecord {
        id: row.try_get("id")?,
        group_id: row.try_get("group_id")?,
        user_id: row.try_get("user_id")?,
        ai_model_id: row.try_get("ai_model_id")?,
        external_api_id: row.try_get("external_api_id")?,
        encrypted_api_key: row.try_get("encrypted_api_key")?,
        encrypted_aes_key: row.try_get("encrypted_aes_key")?,
        configuration: serde_json::from_str(row.try_get::<&str, _>("configuration")?)
            .unwrap_or(serde_json::Value::Null),
        usage: budget::effective_usage(&usage, &period),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_used_at: row.try_get("last_used_at")?,
        is_active: row.try_get("is_active")?,
    })
}

impl PgStore {
    pub async fn connect(
        opts: PgConnectOptions,
        pool: &PoolSettings,
        budget: BudgetSettings,
    ) -> Result<PgStore> {
        let target = DbTarget::Postgres(Box::new(opts.clone())).describe();
        // Behind a transaction-mode pooler nothing may be cached per server connection.
        let options = if pool.pooler {
            opts.statement_cache_capacity(0)
        } else {
            opts
        };
        let pg_pool = PgPoolOptions::new()
            .max_connections(pool.max)
            .min_connections(pool.min)
            .acquire_timeout(pool.acquire_timeout)
            .idle_timeout(pool.idle_timeout)
            .connect_lazy_with(options.clone());
        let store = PgStore {
            pool: pg_pool,
            budget,
            pooler: pool.pooler,
            options,
            target,
            probe: tokio::sync::Mutex::new(None),
            coalescer: pool.coalesce.then(Coalescer::default),
            hints: Mutex::default(),
            lean_counted: AtomicU64::new(0),
            full_sent: AtomicU64::new(0),
            warm: Warm::default(),
        };
        // The first connection (through the probe, so a server that is not there fails in
        // about a second, with the cause) and the table.
        store.migrate().await?;
        Ok(store)
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> Error {
        Error::DbUnavailable {
            target: self.target.clone(),
            reason: reason.to_string(),
        }
    }

    /// A pooled connection. An acquire that takes longer than [`PROBE_AFTER`] asks the server
    /// directly: if it cannot be reached (refused, unknown host, authentication) the call
    /// fails now with that cause; if it answers, the pool is merely busy and the acquire keeps
    /// its timeout (`DB_POOL_ACQUIRE_MS`).
    async fn conn(&self) -> Result<PoolConnection<Postgres>> {
        let acquire = self.warm.acquire(&self.pool, self.pool.acquire());
        tokio::pin!(acquire);
        if let Ok(r) = tokio::time::timeout(PROBE_AFTER, &mut acquire).await {
            return r.map_err(|e| self.unavailable(crate::error::describe_db(&e)));
        }
        match self.probe().await {
            Ok(()) => acquire
                .await
                .map_err(|e| self.unavailable(crate::error::describe_db(&e))),
            Err(reason) => Err(self.unavailable(reason)),
        }
    }

    /// Is the server there? One direct connection attempt, shared by every call that asks
    /// within [`PROBE_AFTER`] of it (a busy pool must not turn into a storm of probes).
    async fn probe(&self) -> std::result::Result<(), String> {
        let mut last = self.probe.lock().await;
        if let Some((at, outcome)) = last.as_ref() {
            if at.elapsed() < PROBE_AFTER {
                return outcome.clone();
            }
        }
        let outcome =
            match tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect_with(&self.options))
                .await
            {
                Ok(Ok(probe)) => {
                    let _ = probe.close().await;
                    Ok(())
                }
                Ok(Err(e)) => Err(crate::error::describe_db(&e)),
                Err(_) => Err(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis())),
            };
        *last = Some((std::time::Instant::now(), outcome.clone()));
        outcome
    }

    /// Run one statement and return its rows. The statement is rebuilt by `make` for each
    /// attempt. Retried (bounded, with backoff) only when the failure proves it did not
    /// commit; a write whose connection broke in flight is `PSPAS_DB_OUTCOME_UNKNOWN`.
    async fn rows<'q>(&self, kind: Kind, make: impl Fn() -> PgQuery<'q>) -> Result<Vec<PgRow>> {
        let mut attempt = 0;
        // Set once the statement itself failed in a way that proves it did not commit.
        let mut rerun = false;
        let started = std::time::Instant::now();
        loop {
            let mut conn = match self.conn().await {
                Ok(c) => c,
                // Nothing was sent: a server that is restarting gets about a second to come
                // back (and a statement being re-run because it provably did not commit, its
                // remaining attempts) before the call reports it unavailable.
                Err(Error::DbUnavailable { .. })
                    if started.elapsed() < UNAVAILABLE_GRACE
                        || (rerun && attempt + 1 < ATTEMPTS) =>
                {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let result = if self.pooler {
                // The unnamed statement spans two protocol syncs (Parse/Describe, then
                // Bind/Execute); an explicit transaction keeps both on one server connection.
                async {
                    let mut tx = conn.begin().await?;
                    let rows = make().persistent(false).fetch_all(&mut *tx).await?;
                    tx.commit().await?;
                    Ok::<_, sqlx::Error>(rows)
                }
                .await
            } else {
                make().fetch_all(&mut *conn).await
            };
            let e = match result {
                Ok(rows) => {
                    self.warm.keep(conn);
                    return Ok(rows);
                }
                Err(e) => e,
            };
            let failure = classify(&e);
            if !matches!(failure, Failure::Other) {
                conn.close_on_drop();
            }
            drop(conn);
            attempt += 1;
            rerun = true;
            match failure {
                Failure::Retry if attempt < ATTEMPTS => {}
                Failure::InFlight if kind == Kind::Read && attempt < ATTEMPTS => {}
                Failure::InFlight => {
                    return Err(Error::DbOutcomeUnknown(crate::error::describe_db(&e)))
                }
                _ => return Err(Error::from(e)),
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// Send queued calls as one lean statement counting their sum, and answer each.
    async fn send_batch(&self, target: &Target, batch: Vec<Waiter>) {
        let Some(hint) = self.hint(target).filter(|_| batch.len() > 1) else {
            // One call, or no hint yet: each decides alone, with its events if any.
            for w in batch {
                let _ = w.reply.send(Answer::Alone);
            }
            return;
        };
        let sum: f64 = batch.iter().map(|w| w.amount).sum();
        let outcome = match self.run_lean(target, &hint, sum).await {
            Ok(rows) => rows.first().map(picked_of).transpose(),
            Err(e) => Err(e),
        };
        for w in batch {
            let answer = match &outcome {
                Ok(Some(picked)) => Answer::Granted(picked.clone()),
                Ok(None) => Answer::Alone,
                Err(e) => Answer::Failed(e.clone()),
            };
            let _ = w.reply.send(answer);
        }
    }

    /// One call decided on its own: the lean common path, else the full statement.
    async fn increment_alone(&self, target: &Target, amount: f64) -> Result<Increment> {
        // The common path first: granted, no event. Nothing updated: the full statement.
        // Without a hint for this group and filter (its first call here) the lean statement
        // cannot decide, so the full one goes first.
        if let Some(hint) = self.hint(target) {
            let lean = self.run_lean(target, &hint, amount).await?;
            if let Some(row) = lean.first() {
                return Ok(Increment {
                    picked: Some(picked_of(row)?),
                    events: Vec::new(),
                });
            }
        }
        let (group_id, cond, binds) = &target.key;
        self.full_sent.fetch_add(1, Ordering::Relaxed);
        let rows = self
            .rows(Kind::Write, || {
                let mut q = sqlx::query(AssertSqlSafe(statement(INCREMENT_BUDGET, cond)))
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
        let mut out = Increment::default();
        let mut hint = None;
        for row in &rows {
            // The granted key carries its API key; keys that refused the call do not.
            if row
                .try_get::<Option<String>, _>("encrypted_api_key")?
                .is_some()
            {
                out.picked = Some(picked_of(row)?);
                hint = LeanHint::of(row)?;
            }
            out.events.extend(events_of(row)?);
        }
        self.keep_hint(target, hint);
        Ok(out)
    }

    /// The lean statement for `target` with the hint's limits (see `increment_lean.sql`).
    async fn run_lean(&self, target: &Target, hint: &LeanHint, amount: f64) -> Result<Vec<PgRow>> {
        let (group_id, _, binds) = &target.key;
        let sql = statement(INCREMENT_LEAN, &target.lean_cond);
        // Limits only refuse when budgets are enforced; thresholds fire either way.
        let enforce = self.budget.enforce;
        let [limit_day, limit_month, limit_total] =
            [&hint.limit_day, &hint.limit_month, &hint.limit_total]
                .map(|limit| limit.as_deref().filter(|_| enforce));
        let rows = self
            .rows(Kind::Write, || {
                let mut q = sqlx::query(AssertSqlSafe(sql))
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

    fn hint(&self, target: &Target) -> Option<Arc<LeanHint>> {
        let hints = self.hints.lock().unwrap_or_else(|p| p.into_inner());
        hints.get(&target.key).cloned()
    }

    /// Keep what the full statement learned for `target`; no grant (no key, or every key
    /// refused) drops the hint, so the next call goes straight to the full statement.
    fn keep_hint(&self, target: &Target, hint: Option<LeanHint>) {
        let mut hints = self.hints.lock().unwrap_or_else(|p| p.into_inner());
        match hint {
            Some(h) => {
                if hints.len() >= HINTS_MAX && !hints.contains_key(&target.key) {
                    hints.clear();
                }
                hints.insert(target.key.clone(), Arc::new(h));
            }
            None => {
                hints.remove(&target.key);
            }
        }
    }

    /// Increments counted by the lean statement, and full statements sent, since the store
    /// was opened (a diagnostic for tests and the benchmark).
    pub fn statement_counts(&self) -> (u64, u64) {
        (
            self.lean_counted.load(Ordering::Relaxed),
            self.full_sent.load(Ordering::Relaxed),
        )
    }

    fn tz(&self) -> &'static str {
        self.budget.timezone.name()
    }

    /// Create the table when it is missing. An existing table (PolicySynth's) is left as is.
    async fn migrate(&self) -> Result<()> {
        let rows = self.rows(Kind::Read, || sqlx::query(TABLE_EXISTS)).await?;
        let exists: bool = match rows.first() {
            Some(row) => row.try_get("table_exists")?,
            None => false,
        };
        if exists {
            return Ok(());
        }
        // Plain (simple-protocol) statements in one transaction: fine behind a pooler too.
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::raw_sql(MIGRATION).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The calls queued on `key` so far (the key stays marked as in flight).
fn take_queue(coalescer: &Coalescer, key: &BatchKey) -> Vec<Waiter> {
    let mut waiting = coalescer.waiting.lock().unwrap_or_else(|p| p.into_inner());
    waiting.get_mut(key).map(std::mem::take).unwrap_or_default()
}

/// The key a lean statement counted on (named result columns).
fn picked_of(row: &PgRow) -> Result<Picked> {
    Ok(Picked {
        id: row.try_get("id")?,
        encrypted_api_key: row.try_get("encrypted_api_key")?,
        encrypted_aes_key: row.try_get("encrypted_aes_key")?,
    })
}

fn events_of(row: &PgRow) -> Result<Vec<BudgetEvent>> {
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

impl Store for PgStore {
    async fn insert(&self, key: &NewKey) -> Result<KeyRecord> {
        let sql = statement(INSERT, "");
        let configuration = key.configuration.to_string();
        let rows = self
            .rows(Kind::Write, || {
                sqlx::query(AssertSqlSafe(sql))
                    .bind(self.tz())
                    .bind(key.group_id)
                    .bind(key.user_id)
                    .bind(key.ai_model_id)
                    .bind(key.external_api_id)
                    .bind(configuration.as_str())
                    .bind(key.encrypted_api_key.as_str())
                    .bind(key.encrypted_aes_key.as_str())
            })
            .await?;
        match rows.first() {
            Some(row) => record(row),
            None => Err(Error::Internal("INSERT returned no row".into())),
        }
    }

    async fn list(&self, group_id: i64, filter: &KeyFilter) -> Result<Vec<KeyRecord>> {
        let (cond, binds) = filter_sql(filter, '$', 3);
        let sql = statement(LIST, &cond);
        let rows = self
            .rows(Kind::Read, || {
                let mut q = sqlx::query(AssertSqlSafe(sql))
                    .bind(self.tz())
                    .bind(group_id);
                for b in &binds {
                    q = q.bind(*b);
                }
                q
            })
            .await?;
        rows.iter().map(record).collect()
    }

    async fn increment(&self, group_id: i64, filter: &KeyFilter, amount: f64) -> Result<Increment> {
        let (cond, binds) = filter_sql(filter, '$', 5);
        let target = Target {
            key: (group_id, cond, binds),
            lean_cond: filter_sql(filter, '$', LEAN_FILTER_FROM).0,
        };
        let Some(coalescer) = &self.coalescer else {
            return self.increment_alone(&target, amount).await;
        };
        let key = &target.key;
        loop {
            // Either join the queue behind a statement in flight on this key, or lead.
            let queued = {
                let mut waiting = coalescer.waiting.lock().unwrap_or_else(|p| p.into_inner());
                match waiting.get_mut(key) {
                    Some(queue) => {
                        let (reply, answer) = tokio::sync::oneshot::channel();
                        queue.push(Waiter { amount, reply });
                        Some(answer)
                    }
                    None => {
                        waiting.insert(key.clone(), Vec::new());
                        None
                    }
                }
            };
            if let Some(answer) = queued {
                return match answer.await {
                    Ok(Answer::Granted(picked)) => Ok(Increment {
                        picked: Some(picked),
                        events: Vec::new(),
                    }),
                    Ok(Answer::Failed(e)) => Err(e),
                    Ok(Answer::Again) => continue,
                    Ok(Answer::Alone) | Err(_) => self.increment_alone(&target, amount).await,
                };
            }
            // Lead: this call's own statement, then one batch of the calls that queued meanwhile;
            // calls that queued behind that batch start the next round (bounded extra latency).
            let lead = Lead { coalescer, key };
            let own = self.increment_alone(&target, amount).await;
            let batch = take_queue(coalescer, key);
            if !batch.is_empty() {
                self.send_batch(&target, batch).await;
            }
            for w in lead.finish() {
                let _ = w.reply.send(Answer::Again);
            }
            return own;
        }
    }

    async fn undo_increment(&self, picked: &Picked, amount: f64) -> Result<()> {
        self.rows(Kind::Write, || {
            sqlx::query(UNDO_INCREMENT).bind(picked.id).bind(amount)
        })
        .await?;
        Ok(())
    }

    async fn set_active(&self, id: i64, active: bool) -> Result<bool> {
        let rows = self
            .rows(Kind::Write, || {
                sqlx::query(SET_ACTIVE).bind(id).bind(active)
            })
            .await?;
        Ok(!rows.is_empty())
    }

    async fn usage(&self, id: i64) -> Result<Option<Usage>> {
        Ok(self
            .budget_row(id)
            .await?
            .map(|(_, usage, _, period)| budget::effective_usage(&usage, &period)))
    }

    async fn budget_status(&self, id: i64) -> Result<Option<BudgetStatus>> {
        Ok(self
            .budget_row(id)
            .await?
            .map(|(active, usage, config, period)| {
                budget::status(id, active, self.budget.enforce, &usage, &config, &period)
            }))
    }

    async fn close(&self) {
        self.warm.release_all();
        self.pool.close().await
    }

    async fn wrapped_keys(&self, after_id: i64, limit: i64) -> Result<Vec<WrappedKey>> {
        let rows = self
            .rows(Kind::Read, || {
                sqlx::query(WRAPPED_KEYS).bind(after_id).bind(limit)
            })
            .await?;
        rows.iter().map(super::wrapped_key).collect()
    }

    async fn replace_wrapped_keys(&self, batch: &[Rewrap]) -> Result<u64> {
        if batch.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = batch.iter().map(|r| r.id).collect();
        let old: Vec<&str> = batch.iter().map(|r| r.old.as_str()).collect();
        let new: Vec<&str> = batch.iter().map(|r| r.new.as_str()).collect();
        let rows = self
            .rows(Kind::Write, || {
                sqlx::query(REPLACE_WRAPPED_KEYS)
                    .bind(&ids)
                    .bind(&old)
                    .bind(&new)
            })
            .await?;
        Ok(rows.len() as u64)
    }

    async fn count_keys(&self) -> Result<i64> {
        let rows = self.rows(Kind::Read, || sqlx::query(COUNT_KEYS)).await?;
        match rows.first() {
            Some(row) => Ok(row.try_get("keys")?),
            None => Ok(0),
        }
    }
}

impl PgStore {
    async fn budget_row(
        &self,
        id: i64,
    ) -> Result<Option<(bool, serde_json::Value, serde_json::Value, Period)>> {
        let sql = statement(BUDGET_ROW, "");
        let rows = self
            .rows(Kind::Read, || {
                sqlx::query(AssertSqlSafe(sql)).bind(self.tz()).bind(id)
            })
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let json = |column: &str| -> Result<serde_json::Value> {
            Ok(serde_json::from_str(row.try_get::<&str, _>(column)?).unwrap_or_default())
        };
        Ok(Some((
            row.try_get("is_active")?,
            json("usage")?,
            json("configuration")?,
            period_of(row)?,
        )))
    }
}

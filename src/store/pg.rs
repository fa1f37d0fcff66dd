//! PostgreSQL: all SQL of this backend.
//!
//! The budget rules of [`crate::budget`] are stated here in SQL, inside the one increment
//! statement, so that any number of processes on any number of machines decide on the same
//! locked row state with the database's clock.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, Postgres, Row};

use super::{filter_sql, Increment, Store};
use crate::budget::{self, BudgetEvent, BudgetStatus, EventKind, Period};
use crate::config::{BudgetSettings, DbTarget, PoolSettings};
use crate::error::{Error, Result};
use crate::model::{KeyFilter, KeyRecord, NewKey, Picked, Usage};

const MIGRATION: &str =
    include_str!("../../migrations/postgres/0001_create_ps_private_access_store.sql");
/// Advisory lock id serializing the create-table migration across processes ("pspas" in hex).
const MIGRATION_LOCK: i64 = 0x0070_7370_6173;

const COLUMNS: &str = "id::int8, group_id::int8, user_id::int8, ai_model_id::int8, external_api_id::int8, \
    encrypted_api_key, encrypted_aes_key, configuration::text, usage::text, created_at, updated_at, \
    last_used_at, COALESCE(is_active, true)";

/// The current period of the timezone in `$tz`, by the database's clock (4 columns).
fn period_columns(tz: &str) -> String {
    format!(
        "to_char(now() AT TIME ZONE {tz}, 'YYYY-MM-DD'), to_char(now() AT TIME ZONE {tz}, 'YYYY-MM'), \
         date_trunc('day', now() AT TIME ZONE {tz}) AT TIME ZONE {tz}, \
         date_trunc('month', now() AT TIME ZONE {tz}) AT TIME ZONE {tz}"
    )
}

fn period_at(row: &PgRow, first: usize) -> Result<Period> {
    Ok(Period {
        day: row.try_get(first)?,
        month: row.try_get(first + 1)?,
        day_start: row.try_get(first + 2)?,
        month_start: row.try_get(first + 3)?,
    })
}

/// Counters and limits of row alias `s` against the period CTE `p` (see `budget`).
fn daily(s: &str) -> String {
    format!("(CASE WHEN {s}.usage->>'periodDay' = p.day THEN COALESCE(({s}.usage->>'dailyUse')::numeric, 0) ELSE 0 END)")
}
fn monthly(s: &str) -> String {
    format!("(CASE WHEN {s}.usage->>'periodMonth' = p.month THEN COALESCE(({s}.usage->>'monthlyUse')::numeric, 0) ELSE 0 END)")
}
fn total(s: &str) -> String {
    format!("COALESCE(({s}.usage->>'totalUse')::numeric, 0)")
}
fn config_number(s: &str, section: &str, field: &str) -> String {
    format!(
        "(CASE WHEN jsonb_typeof({s}.configuration->'{section}'->'{field}') = 'number' \
         THEN ({s}.configuration->'{section}'->>'{field}')::numeric END)"
    )
}
fn limit(s: &str, field: &str) -> String {
    config_number(s, "maxBudget", field)
}
/// `used + amount` exceeds a set limit.
fn over(used: &str, lim: &str) -> String {
    format!("({lim} IS NOT NULL AND {used} + p.amt > {lim})")
}
fn not_notified(s: &str, kind: EventKind, period_value: &str) -> String {
    format!(
        "({s}.usage->'notified'->>'{}') IS DISTINCT FROM {period_value}",
        kind.as_str()
    )
}

/// The increment statement for a filter: `$1` group, `$2` amount, `$3` timezone, `$4`
/// enforce, then the filter's values from `$5`. Public so the benchmark's database-limit loop
/// issues exactly this statement (see `benches/increment-pg.sql` and `tests/bench_sql.rs`).
pub fn increment_statement(filter: &KeyFilter) -> String {
    increment_sql(&filter_sql(filter, '$', 5).0)
}

/// The increment statement for a filter clause, built once per filter shape (there are nine)
/// and reused: the hot path neither re-formats its ~9 KB of SQL nor allocates it per call.
fn increment_sql_cached(cond: &str) -> &'static str {
    static BUILT: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(sql) = built.get(cond) {
        return sql;
    }
    // Bounded: `cond` is one of the nine shapes `filter_sql` produces for an increment.
    let sql: &'static str = Box::leak(increment_sql(cond).into_boxed_str());
    built.insert(cond.to_owned(), sql);
    sql
}

/// The common path, with the same parameters: one `UPDATE` of the group's first active matching
/// key (locked), applied only when the call is granted *and* causes no budget event: the key
/// has room, and no threshold is crossed that was not already notified this period. Any other
/// case, and any doubt (a NULL in a condition), updates nothing, and the full statement
/// ([`increment_sql`]) decides under its own row locks: refusals, failover, events. Each
/// statement decides on locked row state, so exactness is the same as the full statement's.
fn lean_sql(cond: &str) -> String {
    let (d, m, t) = (daily("s"), monthly("s"), total("s"));
    let (ld, lm, lt) = (
        limit("s", "perDay"),
        limit("s", "petMonth"),
        limit("s", "total"),
    );
    let (over_d, over_m, over_t) = (over(&d, &ld), over(&m, &lm), over(&t, &lt));
    let (td, tm) = (
        config_number("s", "emailNotificationBudgetThresholds", "daily"),
        config_number("s", "emailNotificationBudgetThresholds", "monthly"),
    );
    let crosses = |used: &str, lim: &str, thr: &str, kind: EventKind, period: &str| {
        format!(
            "({lim} IS NOT NULL AND {thr} IS NOT NULL \
             AND {used} + p.amt >= (CASE WHEN {thr} <= 1 THEN {thr} * {lim} ELSE {thr} END) \
             AND {})",
            not_notified("s", kind, period)
        )
    };
    let (cross_d, cross_m) = (
        crosses(&d, &ld, &td, EventKind::DailyThreshold, "p.day"),
        crosses(&m, &lm, &tm, EventKind::MonthlyThreshold, "p.month"),
    );
    format!(
        "WITH p AS (SELECT to_char(now() AT TIME ZONE $3, 'YYYY-MM-DD') AS day, \
           to_char(now() AT TIME ZONE $3, 'YYYY-MM') AS month, $2::float8::numeric AS amt) \
         UPDATE ps_private_access_store s SET \
           usage = COALESCE(s.usage, '{{}}'::jsonb) || jsonb_build_object( \
             'dailyUse', {d} + p.amt, 'monthlyUse', {m} + p.amt, 'totalUse', {t} + p.amt, \
             'periodDay', p.day, 'periodMonth', p.month), \
           last_used_at = now(), updated_at = now() \
         FROM p \
         WHERE s.id = (SELECT id FROM ps_private_access_store \
             WHERE group_id = $1 AND is_active IS NOT FALSE{cond} ORDER BY id LIMIT 1 FOR UPDATE) \
           AND s.is_active IS NOT FALSE{cond} \
           AND (NOT $4::bool OR NOT ({over_d} OR {over_m} OR {over_t})) \
           AND NOT {cross_d} AND NOT {cross_m} \
         RETURNING s.id::int8 AS id, s.encrypted_api_key, s.encrypted_aes_key"
    )
}

fn lean_sql_cached(cond: &str) -> &'static str {
    static BUILT: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(sql) = built.get(cond) {
        return sql;
    }
    // Bounded: `cond` is one of the nine shapes `filter_sql` produces for an increment.
    let sql: &'static str = Box::leak(lean_sql(cond).into_boxed_str());
    built.insert(cond.to_owned(), sql);
    sql
}

fn increment_sql(cond: &str) -> String {
    let (d, m, t) = (daily("s"), monthly("s"), total("s"));
    let (ld, lm, lt) = (
        limit("s", "perDay"),
        limit("s", "petMonth"),
        limit("s", "total"),
    );
    let (over_d, over_m, over_t) = (over(&d, &ld), over(&m, &lm), over(&t, &lt));
    let new_dl = format!(
        "({over_d} AND {})",
        not_notified("s", EventKind::DailyLimit, "p.day")
    );
    let new_ml = format!(
        "({over_m} AND {})",
        not_notified("s", EventKind::MonthlyLimit, "p.month")
    );
    let new_tl = format!(
        "({over_t} AND {})",
        not_notified("s", EventKind::TotalLimit, "'total'")
    );
    let room = format!("NOT ({over_d} OR {over_m} OR {over_t})");
    let (td, tm) = (
        config_number("s", "emailNotificationBudgetThresholds", "daily"),
        config_number("s", "emailNotificationBudgetThresholds", "monthly"),
    );
    let flag = |cond: &str, kind: EventKind, value: &str| {
        format!(
            "|| CASE WHEN {cond} THEN jsonb_build_object('{}', {value}) ELSE '{{}}'::jsonb END",
            kind.as_str()
        )
    };
    format!(
        "WITH p AS (SELECT to_char(now() AT TIME ZONE $3, 'YYYY-MM-DD') AS day, \
           to_char(now() AT TIME ZONE $3, 'YYYY-MM') AS month, \
           date_trunc('day', now() AT TIME ZONE $3) AT TIME ZONE $3 AS day_start, \
           date_trunc('month', now() AT TIME ZONE $3) AT TIME ZONE $3 AS month_start, \
           $2::float8::numeric AS amt, $4::bool AS enforce), \
         pick AS (SELECT s.id, s.group_id, s.ai_model_id, s.external_api_id, {d} AS d0, {m} AS m0, {t} AS t0, \
             {ld} AS ld, {lm} AS lm, {td} AS td, {tm} AS tm, COALESCE(s.usage->'notified', '{{}}'::jsonb) AS notified \
           FROM ps_private_access_store s CROSS JOIN p \
           WHERE s.group_id = $1 AND s.is_active IS NOT FALSE{cond} AND (NOT p.enforce OR {room}) \
           ORDER BY s.id LIMIT 1 FOR UPDATE OF s), \
         ev AS (SELECT pick.*, \
             (pick.ld IS NOT NULL AND pick.td IS NOT NULL AND pick.d0 + p.amt >= (CASE WHEN pick.td <= 1 THEN pick.td * pick.ld ELSE pick.td END) \
               AND (pick.notified->>'dailyThreshold') IS DISTINCT FROM p.day) AS e_dt, \
             (pick.lm IS NOT NULL AND pick.tm IS NOT NULL AND pick.m0 + p.amt >= (CASE WHEN pick.tm <= 1 THEN pick.tm * pick.lm ELSE pick.tm END) \
               AND (pick.notified->>'monthlyThreshold') IS DISTINCT FROM p.month) AS e_mt \
           FROM pick CROSS JOIN p), \
         upd AS (UPDATE ps_private_access_store s SET \
             usage = COALESCE(s.usage, '{{}}'::jsonb) || jsonb_build_object( \
               'dailyUse', ev.d0 + p.amt, 'monthlyUse', ev.m0 + p.amt, 'totalUse', ev.t0 + p.amt, \
               'periodDay', p.day, 'periodMonth', p.month, \
               'notified', ev.notified {fdt} {fmt}), \
             last_used_at = now(), updated_at = now() \
           FROM ev CROSS JOIN p WHERE s.id = ev.id \
           RETURNING s.id::int8 AS id, s.encrypted_api_key, s.encrypted_aes_key, ev.group_id::int8 AS g, \
             ev.ai_model_id::int8 AS am, ev.external_api_id::int8 AS ea, (ev.d0 + p.amt)::float8 AS du, \
             (ev.m0 + p.amt)::float8 AS mu, (ev.t0 + p.amt)::float8 AS tu, ev.ld::float8 AS ld, ev.lm::float8 AS lm, \
             NULL::float8 AS lt, ev.e_dt, ev.e_mt, false AS e_dl, false AS e_ml, false AS e_tl), \
         rpick AS (SELECT s.id, s.group_id, s.ai_model_id, s.external_api_id, {d} AS d0, {m} AS m0, {t} AS t0, \
             {ld} AS ld, {lm} AS lm, {lt} AS lt, {new_dl} AS e_dl, {new_ml} AS e_ml, {new_tl} AS e_tl \
           FROM ps_private_access_store s CROSS JOIN p \
           WHERE p.enforce AND s.group_id = $1 AND s.is_active IS NOT FALSE{cond} \
             AND s.id < COALESCE((SELECT id FROM pick), 9223372036854775807) \
             AND ({new_dl} OR {new_ml} OR {new_tl}) \
           ORDER BY s.id FOR UPDATE OF s), \
         refused AS (UPDATE ps_private_access_store s SET \
             usage = COALESCE(s.usage, '{{}}'::jsonb) || jsonb_build_object('notified', \
               COALESCE(s.usage->'notified', '{{}}'::jsonb) {fdl} {fml} {ftl}) \
           FROM rpick r CROSS JOIN p WHERE s.id = r.id \
           RETURNING r.id::int8 AS id, NULL::text AS encrypted_api_key, NULL::text AS encrypted_aes_key, \
             r.group_id::int8 AS g, r.ai_model_id::int8 AS am, r.external_api_id::int8 AS ea, r.d0::float8 AS du, \
             r.m0::float8 AS mu, r.t0::float8 AS tu, r.ld::float8 AS ld, r.lm::float8 AS lm, r.lt::float8 AS lt, \
             false AS e_dt, false AS e_mt, r.e_dl, r.e_ml, r.e_tl) \
         SELECT x.*, p.day, p.month, p.day_start, p.month_start \
           FROM (SELECT * FROM upd UNION ALL SELECT * FROM refused) x CROSS JOIN p",
        fdt = flag("ev.e_dt", EventKind::DailyThreshold, "p.day"),
        fmt = flag("ev.e_mt", EventKind::MonthlyThreshold, "p.month"),
        fdl = flag("r.e_dl", EventKind::DailyLimit, "p.day"),
        fml = flag("r.e_ml", EventKind::MonthlyLimit, "p.month"),
        ftl = flag("r.e_tl", EventKind::TotalLimit, "'total'"),
    )
}

/// `usage` with `$2` taken off each documented counter (undoing one increment).
const UNDO_SQL: &str = "UPDATE ps_private_access_store SET usage = COALESCE(usage, '{}'::jsonb) || jsonb_build_object(\
    'dailyUse', COALESCE((usage->>'dailyUse')::numeric, 0) - $2::float8::numeric, \
    'monthlyUse', COALESCE((usage->>'monthlyUse')::numeric, 0) - $2::float8::numeric, \
    'totalUse', COALESCE((usage->>'totalUse')::numeric, 0) - $2::float8::numeric) WHERE id = $1";

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

/// A row of `COLUMNS` followed by the 4 period columns.
fn record(row: &PgRow) -> Result<KeyRecord> {
    let period = period_at(row, 13)?;
    let usage: serde_json::Value =
        serde_json::from_str(row.try_get::<&str, _>(8)?).unwrap_or_default();
    Ok(KeyRecord {
        id: row.try_get(0)?,
        group_id: row.try_get(1)?,
        user_id: row.try_get(2)?,
        ai_model_id: row.try_get(3)?,
        external_api_id: row.try_get(4)?,
        encrypted_api_key: row.try_get(5)?,
        encrypted_aes_key: row.try_get(6)?,
        configuration: serde_json::from_str(row.try_get::<&str, _>(7)?)
            .unwrap_or(serde_json::Value::Null),
        usage: budget::effective_usage(&usage, &period),
        created_at: row.try_get(9)?,
        updated_at: row.try_get(10)?,
        last_used_at: row.try_get(11)?,
        is_active: row.try_get(12)?,
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
        let acquire = self.pool.acquire();
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
                Ok(rows) => return Ok(rows),
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
    async fn send_batch(&self, key: &BatchKey, batch: Vec<Waiter>) {
        let (group_id, cond, binds) = key;
        if batch.len() == 1 {
            // One call: it decides alone, with its events if any.
            for w in batch {
                let _ = w.reply.send(Answer::Alone);
            }
            return;
        }
        let sum: f64 = batch.iter().map(|w| w.amount).sum();
        let outcome = match self
            .run_increment(lean_sql_cached(cond), *group_id, binds, sum)
            .await
        {
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
    async fn increment_alone(
        &self,
        group_id: i64,
        cond: &str,
        binds: &[i64],
        amount: f64,
    ) -> Result<Increment> {
        // The common path first: granted, no event. Nothing updated: the full statement.
        let lean = self
            .run_increment(lean_sql_cached(cond), group_id, binds, amount)
            .await?;
        if let Some(row) = lean.first() {
            return Ok(Increment {
                picked: Some(picked_of(row)?),
                events: Vec::new(),
            });
        }
        let rows = self
            .run_increment(increment_sql_cached(cond), group_id, binds, amount)
            .await?;
        let mut out = Increment::default();
        for row in &rows {
            if let Some(api) = row.try_get::<Option<String>, _>(1)? {
                out.picked = Some(Picked {
                    id: row.try_get(0)?,
                    encrypted_api_key: api,
                    encrypted_aes_key: row.try_get(2)?,
                });
            }
            out.events.extend(events_of(row)?);
        }
        Ok(out)
    }

    /// An increment statement (lean or full; same parameters).
    async fn run_increment(
        &self,
        sql: &'static str,
        group_id: i64,
        binds: &[i64],
        amount: f64,
    ) -> Result<Vec<PgRow>> {
        self.rows(Kind::Write, || {
            let mut q = sqlx::query(AssertSqlSafe(sql))
                .bind(group_id)
                .bind(amount)
                .bind(self.tz())
                .bind(self.budget.enforce);
            for b in binds {
                q = q.bind(*b);
            }
            q
        })
        .await
    }

    fn tz(&self) -> &'static str {
        self.budget.timezone.name()
    }

    /// Create the table when it is missing. An existing table (PolicySynth's) is left as is.
    async fn migrate(&self) -> Result<()> {
        let rows = self
            .rows(Kind::Read, || {
                sqlx::query(
                    "SELECT to_regclass('ps_private_access_store') IS NOT NULL AS table_exists",
                )
            })
            .await?;
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
    let period = period_at(row, 17)?;
    let (du, mu, tu): (f64, f64, f64) = (row.try_get(6)?, row.try_get(7)?, row.try_get(8)?);
    let (ld, lm, lt): (Option<f64>, Option<f64>, Option<f64>) =
        (row.try_get(9)?, row.try_get(10)?, row.try_get(11)?);
    let mut events = Vec::new();
    for (i, kind, used, lim) in [
        (12, EventKind::DailyThreshold, du, ld),
        (13, EventKind::MonthlyThreshold, mu, lm),
        (14, EventKind::DailyLimit, du, ld),
        (15, EventKind::MonthlyLimit, mu, lm),
        (16, EventKind::TotalLimit, tu, lt),
    ] {
        if row.try_get::<bool, _>(i)? {
            events.push(BudgetEvent {
                key_id: row.try_get(0)?,
                group_id: row.try_get(3)?,
                ai_model_id: row.try_get(4)?,
                external_api_id: row.try_get(5)?,
                kind,
                used,
                limit: lim.unwrap_or_default(),
                period_start: kind.period_start(&period),
            });
        }
    }
    Ok(events)
}

impl Store for PgStore {
    async fn insert(&self, key: &NewKey) -> Result<KeyRecord> {
        let sql = format!(
            "INSERT INTO ps_private_access_store (group_id, user_id, ai_model_id, external_api_id, configuration, \
             usage, encrypted_api_key, encrypted_aes_key, created_at, updated_at, is_active) \
             VALUES ($1, $2, $3, $4, $5::jsonb, '{{\"dailyUse\":0,\"monthlyUse\":0,\"totalUse\":0}}'::jsonb, $6, $7, \
             now(), now(), true) RETURNING {COLUMNS}, {}",
            period_columns("$8")
        );
        let configuration = key.configuration.to_string();
        let rows = self
            .rows(Kind::Write, || {
                sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(key.group_id)
                    .bind(key.user_id)
                    .bind(key.ai_model_id)
                    .bind(key.external_api_id)
                    .bind(configuration.as_str())
                    .bind(key.encrypted_api_key.as_str())
                    .bind(key.encrypted_aes_key.as_str())
                    .bind(self.tz())
            })
            .await?;
        match rows.first() {
            Some(row) => record(row),
            None => Err(Error::Internal("INSERT returned no row".into())),
        }
    }

    async fn list(&self, group_id: i64, filter: &KeyFilter) -> Result<Vec<KeyRecord>> {
        let (cond, binds) = filter_sql(filter, '$', 3);
        let sql = format!(
            "SELECT {COLUMNS}, {} FROM ps_private_access_store WHERE group_id = $1{cond} \
             ORDER BY COALESCE(is_active, true) DESC, id ASC",
            period_columns("$2")
        );
        let rows = self
            .rows(Kind::Read, || {
                let mut q = sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(group_id)
                    .bind(self.tz());
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
        let Some(coalescer) = &self.coalescer else {
            return self.increment_alone(group_id, &cond, &binds, amount).await;
        };
        let key: BatchKey = (group_id, cond.clone(), binds.clone());
        loop {
            // Either join the queue behind a statement in flight on this key, or lead.
            let queued = {
                let mut waiting = coalescer.waiting.lock().unwrap_or_else(|p| p.into_inner());
                match waiting.get_mut(&key) {
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
                    Ok(Answer::Alone) | Err(_) => {
                        self.increment_alone(group_id, &cond, &binds, amount).await
                    }
                };
            }
            // Lead: this call's own statement, then one batch of the calls that queued meanwhile;
            // calls that queued behind that batch start the next round (bounded extra latency).
            let lead = Lead {
                coalescer,
                key: &key,
            };
            let own = self.increment_alone(group_id, &cond, &binds, amount).await;
            let batch = take_queue(coalescer, &key);
            if !batch.is_empty() {
                self.send_batch(&key, batch).await;
            }
            for w in lead.finish() {
                let _ = w.reply.send(Answer::Again);
            }
            return own;
        }
    }

    async fn undo_increment(&self, picked: &Picked, amount: f64) -> Result<()> {
        self.rows(Kind::Write, || {
            sqlx::query(UNDO_SQL).bind(picked.id).bind(amount)
        })
        .await?;
        Ok(())
    }

    async fn set_active(&self, id: i64, active: bool) -> Result<bool> {
        let rows = self
            .rows(Kind::Write, || {
                sqlx::query(
                    "UPDATE ps_private_access_store SET is_active = $2, updated_at = now() \
                     WHERE id = $1 RETURNING id",
                )
                .bind(id)
                .bind(active)
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
        self.pool.close().await
    }
}

impl PgStore {
    async fn budget_row(
        &self,
        id: i64,
    ) -> Result<Option<(bool, serde_json::Value, serde_json::Value, Period)>> {
        let sql = format!(
            "SELECT COALESCE(is_active, true), usage::text, configuration::text, {} FROM ps_private_access_store WHERE id = $1",
            period_columns("$2")
        );
        let rows = self
            .rows(Kind::Read, || {
                sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(id)
                    .bind(self.tz())
            })
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let json = |i: usize| -> Result<serde_json::Value> {
            Ok(serde_json::from_str(row.try_get::<&str, _>(i)?).unwrap_or_default())
        };
        Ok(Some((
            row.try_get(0)?,
            json(1)?,
            json(2)?,
            period_at(&row, 3)?,
        )))
    }
}

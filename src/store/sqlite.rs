//! SQLite, the embedded default: all SQL of this backend. WAL mode and a busy timeout let
//! several processes share one file. The increment runs [`budget::decide`] inside a
//! `BEGIN IMMEDIATE` transaction: SQLite's single writer lock makes it atomic across
//! processes, and the database file's machine clock is the one clock.
//!
//! The statements are files under `sql/sqlite/` (read them there), spliced like PostgreSQL's
//! (see [`Template`]): the key-record columns at `/*:key_record*/`, a call's filter clause at
//! `/*:filter*/`. Results are read by column name.
//!
//! (Over 400 lines: one backend, one `Store` impl; its statements are in `sql/sqlite/`, the
//! budget rules in `crate::budget`; what remains is binding values and the transactions.)

use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{AssertSqlSafe, Row, Sqlite};

mod events;
mod lean;

use super::template::{Part, Template};
use super::{filter_sql, rows, DuplicateSet, Increment, Store, Warm};
use crate::budget::{self, BudgetEvent, BudgetStatus, NewHold, Period};
use crate::config::{BudgetSettings, PoolSettings};
use crate::error::{Error, Result};
use crate::model::{KeyFilter, KeyRecord, NewKey, Picked, Request, Usage};
use crate::outbox::{Claim, EventState, NewEvent, OutboxEvent};
use crate::reservation::{self, Finished, Hold, Reserve, Step};
use crate::rotation::{Rewrap, WrappedKey};

/// The migrations, in order (each idempotent: `CREATE … IF NOT EXISTS`).
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_create_ps_private_access_store.sql"),
    include_str!("../../migrations/sqlite/0002_create_ps_private_access_requests.sql"),
    include_str!("../../migrations/sqlite/0003_create_ps_private_access_holds.sql"),
    include_str!("../../migrations/sqlite/0004_create_ps_private_access_events.sql"),
];

/// The statements of this backend, one file each under `sql/sqlite/`.
mod statements {
    use super::{Part, Template};

    const PARTS: &[Part] = &[(
        "/*:key_record*/",
        include_str!("../../sql/sqlite/key_record.sql"),
    )];

    pub static INSERT: Template = Template::new(include_str!("../../sql/sqlite/insert.sql"), PARTS);
    pub static LIST: Template = Template::new(include_str!("../../sql/sqlite/list.sql"), PARTS);
    pub static INCREMENT_CANDIDATES: Template = Template::new(
        include_str!("../../sql/sqlite/increment_candidates.sql"),
        PARTS,
    );
    pub static INCREMENT_LEAN: Template =
        Template::new(include_str!("../../sql/sqlite/increment_lean.sql"), PARTS);
    pub const INCREMENT_GRANT: &str = include_str!("../../sql/sqlite/increment_grant.sql");
    pub const SET_USAGE: &str = include_str!("../../sql/sqlite/set_usage.sql");
    pub const USAGE_OF: &str = include_str!("../../sql/sqlite/usage_of.sql");
    pub const SET_ACTIVE: &str = include_str!("../../sql/sqlite/set_active.sql");
    pub const SET_CONFIGURATION: &str = include_str!("../../sql/sqlite/set_configuration.sql");
    pub const BUDGET_ROW: &str = include_str!("../../sql/sqlite/budget_row.sql");
    pub const WRAPPED_KEYS: &str = include_str!("../../sql/sqlite/wrapped_keys.sql");
    pub const REPLACE_WRAPPED_KEY: &str = include_str!("../../sql/sqlite/replace_wrapped_key.sql");
    pub const COUNT_KEYS: &str = include_str!("../../sql/sqlite/count_keys.sql");
    pub const DUPLICATE_KEYS: &str = include_str!("../../sql/sqlite/duplicate_keys.sql");
    pub const REQUEST_FIND: &str = include_str!("../../sql/sqlite/request_find.sql");
    pub const REQUEST_CLAIM: &str = include_str!("../../sql/sqlite/request_claim.sql");
    pub const REQUEST_RECORD: &str = include_str!("../../sql/sqlite/request_record.sql");
    pub const REQUEST_PRUNE: &str = include_str!("../../sql/sqlite/request_prune.sql");
    pub const REQUEST_FORGET: &str = include_str!("../../sql/sqlite/request_forget.sql");
    pub const HOLD_FIND: &str = include_str!("../../sql/sqlite/hold_find.sql");
    pub const HOLD_INSERT: &str = include_str!("../../sql/sqlite/hold_insert.sql");
    pub const HOLD_PRUNE: &str = include_str!("../../sql/sqlite/hold_prune.sql");
    pub const HOLD_LOCK: &str = include_str!("../../sql/sqlite/hold_lock.sql");
    pub const HOLD_FINISH: &str = include_str!("../../sql/sqlite/hold_finish.sql");
}
use statements::*;

/// A time as this backend stores it: RFC 3339, UTC, milliseconds (so text order is time order).
fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `now` plus `d`, or the end of the calendar (a retention of "for ever").
fn after(now: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Timestamps written by this package (RFC 3339) or by other tools (`YYYY-MM-DD HH:MM:SS[.fff][ +00:00]`).
fn timestamp(text: Option<String>) -> Option<DateTime<Utc>> {
    let t = text?;
    DateTime::parse_from_rfc3339(&t)
        .or_else(|_| DateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f %:z"))
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// A JSON text column (usage or configuration), read by [`super::stored_json`].
fn json(row: &SqliteRow, column: &str) -> Result<serde_json::Value> {
    Ok(super::stored_json(row.try_get::<&str, _>(column)?))
}

/// A key record (the columns of `sql/sqlite/key_record.sql`) in the current period.
fn record(row: &SqliteRow, period: &Period) -> Result<KeyRecord> {
    super::key_record(row, period, |row, column| {
        Ok(timestamp(row.try_get(column)?))
    })
}

impl SqliteStore {
    /// Claim `request` inside the increment's transaction: `Some` when it was claimed within
    /// the retention window (a repeat: the first call's outcome, nothing to write), else
    /// `None` after claiming it (new, or reused after the window) and pruning expired ids.
    async fn claim(
        &self,
        tx: &mut sqlx::SqliteConnection,
        group_id: i64,
        request: &Request,
    ) -> Result<Option<Result<Increment>>> {
        let now = Utc::now();
        // The oldest claim still remembered (a window longer than the calendar reaches back
        // to its start, never an overflow).
        let oldest = stamp(
            chrono::Duration::from_std(self.budget.request_retention)
                .ok()
                .and_then(|d| now.checked_sub_signed(d))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        );
        let found = sqlx::query(REQUEST_FIND)
            .bind(group_id)
            .bind(&request.id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = found.filter(|r| {
            r.try_get::<&str, _>("created_at")
                .is_ok_and(|at| at >= oldest.as_str())
        }) {
            return Ok(Some(replay(&row, request)));
        }
        sqlx::query(REQUEST_CLAIM)
            .bind(group_id)
            .bind(&request.id)
            .bind(&request.fingerprint)
            .bind(stamp(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(REQUEST_PRUNE)
            .bind(&oldest)
            .execute(&mut *tx)
            .await?;
        Ok(None)
    }
}

/// A repeat of `request` found as `row` (`request_find.sql`): the key the first call served, or
/// a conflict when it asked for another amount or filter.
fn replay(row: &SqliteRow, request: &Request) -> Result<Increment> {
    if row.try_get::<&str, _>("fingerprint")? != request.fingerprint {
        return Err(Error::INCREMENT_CONFLICT);
    }
    let picked = match row.try_get::<Option<i64>, _>("id")? {
        Some(id) => Some(Picked {
            id,
            encrypted_api_key: row.try_get("encrypted_api_key")?,
            encrypted_aes_key: row.try_get("encrypted_aes_key")?,
            day: String::new(),
            month: String::new(),
        }),
        None => None,
    };
    Ok(Increment {
        picked,
        events: Vec::new(),
        replayed: true,
    })
}

pub struct SqliteStore {
    pool: SqlitePool,
    budget: BudgetSettings,
    /// Connections kept between increments (see [`Warm`]).
    warm: Warm<Sqlite>,
    /// The one-statement increment's state (see [`lean`]).
    lean: lean::Lean,
}

impl SqliteStore {
    fn period(&self) -> Period {
        Period::at(Utc::now(), self.budget.timezone)
    }

    pub async fn connect(
        path: &Path,
        pool: &PoolSettings,
        budget: BudgetSettings,
    ) -> Result<SqliteStore> {
        let target = format!("sqlite:{}", path.display());
        // SQLite's own word for a missing folder is "unable to open database file".
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(Error::DbUnavailable {
                    target,
                    reason: format!("the directory {} does not exist", dir.display()),
                });
            }
        }
        let unavailable = |e: sqlx::Error| Error::DbUnavailable {
            target: target.clone(),
            reason: e.to_string(),
        };
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(pool.acquire_timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(pool.max)
            .min_connections(pool.min)
            .acquire_timeout(pool.acquire_timeout)
            .idle_timeout(pool.idle_timeout)
            .connect_with(opts)
            .await
            .map_err(unavailable)?;
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        for migration in MIGRATIONS {
            sqlx::raw_sql(*migration).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(SqliteStore {
            pool,
            budget,
            warm: Warm::default(),
            lean: lean::Lean::default(),
        })
    }
}

impl Store for SqliteStore {
    async fn insert(&self, key: &NewKey) -> Result<KeyRecord> {
        let shaped =
            crate::envelope::is_envelope_shaped(&key.encrypted_api_key, &key.encrypted_aes_key);
        let mut conn = self.conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
        let row = sqlx::query(AssertSqlSafe(INSERT.get("")))
            .bind(key.group_id)
            .bind(key.user_id)
            .bind(key.ai_model_id)
            .bind(key.external_api_id)
            .bind(key.configuration.to_string())
            .bind(&key.encrypted_api_key)
            .bind(&key.encrypted_aes_key)
            .bind(shaped)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        self.warm.keep(conn);
        match row {
            Some(row) => record(&row, &self.period()),
            None => Err(Error::DuplicateKey),
        }
    }

    async fn list(&self, group_id: i64, filter: &KeyFilter) -> Result<Vec<KeyRecord>> {
        let (cond, binds) = filter_sql(filter, '?', 2);
        let mut q = sqlx::query(AssertSqlSafe(LIST.get(&cond))).bind(group_id);
        for b in binds {
            q = q.bind(b);
        }
        let period = self.period();
        let mut conn = self.conn().await?;
        let rows = q.fetch_all(&mut *conn).await?;
        self.warm.keep(conn);
        rows.iter().map(|r| record(r, &period)).collect()
    }

    async fn increment(
        &self,
        group_id: i64,
        filter: &KeyFilter,
        amount: f64,
        request: Option<&Request>,
    ) -> Result<Increment> {
        if request.is_none() {
            if let Some(picked) = self.increment_lean(group_id, filter, amount).await? {
                return Ok(Increment {
                    picked: Some(picked),
                    events: Vec::new(),
                    replayed: false,
                });
            }
        }
        let mut conn = self.conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
        if let Some(request) = request {
            if let Some(repeat) = self.claim(&mut tx, group_id, request).await? {
                tx.rollback().await?;
                self.warm.keep(conn);
                return repeat;
            }
        }
        let (picked, events) = self
            .decide_in(&mut tx, group_id, filter, amount, Utc::now(), None)
            .await?;
        if let Some(request) = request {
            sqlx::query(REQUEST_RECORD)
                .bind(group_id)
                .bind(&request.id)
                .bind(picked.as_ref().map(|p| p.id))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.warm.keep(conn);
        Ok(Increment {
            picked,
            events,
            replayed: false,
        })
    }

    async fn reserve(
        &self,
        group_id: i64,
        filter: &KeyFilter,
        estimate: f64,
        ttl: Option<std::time::Duration>,
        request: Option<&Request>,
    ) -> Result<Reserve> {
        let mut conn = self.conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
        let now = Utc::now();
        sqlx::query(HOLD_PRUNE)
            .bind(stamp(now))
            .execute(&mut *tx)
            .await?;
        if let Some(request) = request {
            if let Some(row) = sqlx::query(HOLD_FIND)
                .bind(group_id)
                .bind(&request.id)
                .fetch_optional(&mut *tx)
                .await?
            {
                tx.commit().await?;
                self.warm.keep(conn);
                return rows::replayed_hold(&row, request, |r| {
                    Ok(timestamp(r.try_get("expires_at")?))
                });
            }
        }
        let expires_at = after(now, ttl.unwrap_or(self.budget.reservation_ttl));
        let hold = NewHold {
            reservation_id: crate::model::new_reservation_id(),
            expires_at_ms: expires_at.timestamp_millis(),
        };
        let (picked, events) = self
            .decide_in(&mut tx, group_id, filter, estimate, now, Some(&hold))
            .await?;
        let amount = budget::amount_decimal(estimate);
        if let Some(picked) = &picked {
            sqlx::query(HOLD_INSERT)
                .bind(&hold.reservation_id)
                .bind(group_id)
                .bind(picked.id)
                .bind(request.map(|r| r.id.as_str()))
                .bind(request.map(|r| r.fingerprint.as_str()))
                .bind(amount.normalized().to_string())
                .bind(stamp(now))
                .bind(stamp(expires_at))
                .bind(stamp(after(expires_at, self.budget.request_retention)))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.warm.keep(conn);
        Ok(Reserve {
            hold: picked.map(|picked| Hold {
                reservation_id: hold.reservation_id,
                picked,
                amount: budget::to_f64(&amount),
                expires_at: DateTime::from_timestamp_millis(hold.expires_at_ms).unwrap_or(now),
            }),
            events,
            replayed: false,
        })
    }

    async fn finish(&self, reservation_id: &str, actual: Option<f64>) -> Result<Finished> {
        let mut conn = self.conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
        let Some(row) = sqlx::query(HOLD_LOCK)
            .bind(reservation_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            tx.rollback().await?;
            self.warm.keep(conn);
            return Ok(Finished::Unknown);
        };
        let now = Utc::now();
        let step = reservation::step(
            &rows::hold_row(&row)?,
            &rows::candidate(&row)?,
            actual,
            &Period::at(now, self.budget.timezone),
            self.budget.enforce,
            now.timestamp_millis(),
        )?;
        if let Step::Write {
            usage,
            state,
            charged,
            overrun,
            ..
        } = &step
        {
            sqlx::query(SET_USAGE)
                .bind(row.try_get::<i64, _>("id")?)
                .bind(usage.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query(HOLD_FINISH)
                .bind(reservation_id)
                .bind(*state)
                .bind(charged.as_deref())
                .bind(overrun.as_deref())
                .bind(stamp(now))
                .bind(stamp(after(now, self.budget.request_retention)))
                .execute(&mut *tx)
                .await?;
        }
        if let Step::Write {
            settled: Some(settled),
            ..
        } = &step
        {
            let period = Period::at(now, self.budget.timezone);
            for event in &settled.events {
                events::record(&mut tx, &NewEvent::of(event, &period), now).await?;
            }
        }
        tx.commit().await?;
        self.warm.keep(conn);
        Ok(Finished::of(step))
    }

    async fn forget_request(&self, group_id: i64, request_id: &str) -> Result<()> {
        let mut conn = self.conn().await?;
        sqlx::query(REQUEST_FORGET)
            .bind(group_id)
            .bind(request_id)
            .execute(&mut *conn)
            .await?;
        self.warm.keep(conn);
        Ok(())
    }

    async fn undo_increment(&self, picked: &Picked, amount: f64) -> Result<()> {
        // Read, take back in decimal (budget::undo), write: one write transaction, so the
        // arithmetic is the budget rules', not SQLite's floating point.
        let mut conn = self.conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
        if let Some(row) = sqlx::query(USAGE_OF)
            .bind(picked.id)
            .fetch_optional(&mut *tx)
            .await?
        {
            let usage = budget::undo(&json(&row, "usage")?, amount, &picked.day, &picked.month);
            sqlx::query(SET_USAGE)
                .bind(picked.id)
                .bind(usage.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.warm.keep(conn);
        Ok(())
    }

    async fn set_active(&self, id: i64, active: bool) -> Result<bool> {
        let mut conn = self.conn().await?;
        let r = sqlx::query(SET_ACTIVE)
            .bind(id)
            .bind(active)
            .execute(&mut *conn)
            .await?;
        self.warm.keep(conn);
        Ok(r.rows_affected() > 0)
    }

    async fn set_configuration(&self, id: i64, configuration: &serde_json::Value) -> Result<bool> {
        let mut conn = self.conn().await?;
        let r = sqlx::query(SET_CONFIGURATION)
            .bind(id)
            .bind(configuration.to_string())
            .execute(&mut *conn)
            .await?;
        self.warm.keep(conn);
        Ok(r.rows_affected() > 0)
    }

    async fn usage(&self, id: i64) -> Result<Option<Usage>> {
        Ok(self
            .budget_row(id)
            .await?
            .map(|(_, usage, _)| budget::effective_usage(&usage, &self.period())))
    }

    async fn budget_status(&self, id: i64) -> Result<Option<BudgetStatus>> {
        Ok(self.budget_row(id).await?.map(|(active, usage, config)| {
            budget::status(
                id,
                active,
                self.budget.enforce,
                &usage,
                &config,
                &self.period(),
                Utc::now().timestamp_millis(),
            )
        }))
    }

    async fn close(&self) {
        self.warm.release_all();
        self.pool.close().await
    }

    async fn wrapped_keys(&self, after_id: i64, limit: i64) -> Result<Vec<WrappedKey>> {
        let mut conn = self.conn().await?;
        let rows = sqlx::query(WRAPPED_KEYS)
            .bind(after_id)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
        self.warm.keep(conn);
        rows.iter().map(super::wrapped_key).collect()
    }

    async fn replace_wrapped_keys(&self, batch: &[Rewrap]) -> Result<u64> {
        if batch.is_empty() {
            return Ok(0);
        }
        // SQLite's one writer lock holds the batch's rows for the transaction.
        let mut conn = self.conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
        let mut written = 0;
        for r in batch {
            written += sqlx::query(REPLACE_WRAPPED_KEY)
                .bind(r.id)
                .bind(r.old.as_str())
                .bind(r.new.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        self.warm.keep(conn);
        Ok(written)
    }

    async fn count_keys(&self) -> Result<i64> {
        let mut conn = self.conn().await?;
        let row = sqlx::query(COUNT_KEYS).fetch_one(&mut *conn).await?;
        self.warm.keep(conn);
        Ok(row.try_get("keys")?)
    }

    async fn duplicate_keys(&self) -> Result<Vec<DuplicateSet>> {
        let mut conn = self.conn().await?;
        let rows = sqlx::query(DUPLICATE_KEYS).fetch_all(&mut *conn).await?;
        self.warm.keep(conn);
        rows.iter().map(rows::duplicate_set).collect()
    }
    async fn claim_events(&self, claim: &Claim) -> Result<Vec<OutboxEvent>> {
        self.claim_events_in(claim).await
    }
    async fn ack_events(&self, ids: &[i64]) -> Result<u64> {
        self.ack_events_in(ids).await
    }
    async fn list_events(&self, state: Option<EventState>, limit: i64) -> Result<Vec<OutboxEvent>> {
        self.list_events_in(state, limit).await
    }
    async fn retry_event(&self, id: i64) -> Result<bool> {
        self.retry_event_in(id).await
    }
}

impl SqliteStore {
    /// Decide a call inside the caller's write transaction: read the candidates, run
    /// [`budget::decide`] (counting `amount`, or placing `hold`), write what it says. The
    /// granted key (stamped as used) and the events.
    async fn decide_in(
        &self,
        tx: &mut sqlx::SqliteConnection,
        group_id: i64,
        filter: &KeyFilter,
        amount: f64,
        now: DateTime<Utc>,
        hold: Option<&NewHold>,
    ) -> Result<(Option<Picked>, Vec<BudgetEvent>)> {
        let (cond, binds) = filter_sql(filter, '?', 2);
        let mut q = sqlx::query(AssertSqlSafe(INCREMENT_CANDIDATES.get(&cond))).bind(group_id);
        for b in binds {
            q = q.bind(b);
        }
        let found = q.fetch_all(&mut *tx).await?;
        let candidates = found
            .iter()
            .map(rows::candidate)
            .collect::<Result<Vec<_>>>()?;
        let period = Period::at(now, self.budget.timezone);
        let decision = budget::decide(
            &candidates,
            amount,
            &period,
            self.budget.enforce,
            now.timestamp_millis(),
            hold,
        );
        let mut picked = None;
        for w in &decision.writes {
            let usage = w.usage.to_string();
            if Some(w.id) == decision.granted {
                let row = sqlx::query(INCREMENT_GRANT)
                    .bind(w.id)
                    .bind(usage)
                    .fetch_one(&mut *tx)
                    .await?;
                picked = Some(Picked {
                    id: w.id,
                    encrypted_api_key: row.try_get("encrypted_api_key")?,
                    encrypted_aes_key: row.try_get("encrypted_aes_key")?,
                    day: period.day.clone(),
                    month: period.month.clone(),
                });
            } else {
                sqlx::query(SET_USAGE)
                    .bind(w.id)
                    .bind(usage)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        // The events, into the outbox in this transaction.
        for event in &decision.events {
            events::record(&mut *tx, &NewEvent::of(event, &period), now).await?;
        }
        if self.lean_on() {
            let seen = lean::seen_after(&found, &candidates, &decision)?;
            self.lean.keep((group_id, *filter), seen);
        }
        Ok((picked, decision.events))
    }

    /// A connection for one operation: a warm one when there is one (see [`Warm`]). Every
    /// operation takes its connection here, so that none waits on the pool while finished
    /// statements keep theirs.
    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<Sqlite>> {
        Ok(self.warm.acquire(&self.pool, self.pool.acquire()).await?)
    }

    async fn budget_row(
        &self,
        id: i64,
    ) -> Result<Option<(bool, serde_json::Value, serde_json::Value)>> {
        let mut conn = self.conn().await?;
        let row = sqlx::query(BUDGET_ROW)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        self.warm.keep(conn);
        row.map(|r| {
            Ok((
                r.try_get("is_active")?,
                json(&r, "usage")?,
                json(&r, "configuration")?,
            ))
        })
        .transpose()
    }
}

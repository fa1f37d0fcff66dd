//! PostgreSQL: the [`PgStore`] type and its [`Store`] operations. All SQL of this backend
//! lives in `sql/postgres/` (see [`statements`]).
//!
//! The budget rules of [`crate::budget`] are stated there in SQL, inside the one increment
//! statement, so that any number of processes on any number of machines decide on the same
//! locked row state with the database's clock.
//!
//! One concern per file: `statements.rs` (the statement files, each render made once),
//! `exec.rs` (running a statement: connection, probe, retries), `increment.rs` (one call:
//! the lean path, then the full statement), `hints.rs` (what the lean path needs),
//! `batch.rs` (coalescing concurrent calls on one key), `cross.rs` (lean calls on many keys in
//! one statement), `servers.rs` (which of a multi-host URL's servers the pool uses),
//! `decode.rs` (reading result rows by column name).

mod batch;
mod cross;
mod decode;
mod events;
mod exec;
mod hints;
mod increment;
mod requests;
mod reservations;
mod servers;
mod statements;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Postgres, Row};

use super::{filter_sql, DuplicateSet, Increment, Store, Warm};
use crate::budget::{self, BudgetStatus, Period};
use crate::config::{BudgetSettings, PoolSettings};
use crate::error::{Error, Result};
use crate::model::{KeyFilter, KeyRecord, NewKey, Picked, Request, Usage};
use crate::outbox::{Claim, EventState, OutboxEvent};
use crate::pg_url::PgServers;
use crate::reservation::{Finished, Reserve};
use crate::rotation::{Rewrap, WrappedKey};
use batch::{BatchKey, Coalescer};
use cross::CrossBatcher;
use decode::{period_of, record};
use exec::Kind;
use hints::LeanHint;
use increment::{Target, FULL_FILTER_FROM, LEAN_FILTER_FROM};
use statements::{
    BUDGET_ROW, COUNT_KEYS, DUPLICATE_KEYS, INSERT, INSERT_LOCK, LIST, MIGRATIONS,
    REPLACE_WRAPPED_KEYS, SET_ACTIVE, SET_CONFIGURATION, TABLE_EXISTS, UNDO_INCREMENT,
    WRAPPED_KEYS,
};

pub use statements::increment_statement;

/// Behind a transaction-mode pooler nothing may be cached per server connection.
fn tuned(pooler: bool, o: PgConnectOptions) -> PgConnectOptions {
    if pooler {
        o.statement_cache_capacity(0)
    } else {
        o
    }
}

/// Advisory lock id serializing the create-table migration across processes ("pspas" in hex).
const MIGRATION_LOCK: i64 = 0x0070_7370_6173;

/// The PostgreSQL backend: its pool, and what the increment path keeps between calls.
pub struct PgStore {
    pool: PgPool,
    budget: BudgetSettings,
    /// Behind a transaction-mode pooler (PgBouncer, Supabase, Neon…): no named statements.
    pooler: bool,
    /// The servers and the one the pool connects to (see [`servers`]).
    placement: servers::Placement,
    target: String,
    /// The last direct probe of the server (single-flight: calls waiting at once share one).
    probe: tokio::sync::Mutex<Option<(std::time::Instant, std::result::Result<(), String>)>>,
    /// Calls waiting behind an in-flight statement on the same key (see [`Coalescer`]).
    coalescer: Option<Coalescer>,
    /// Lean calls on different keys sent together (see [`CrossBatcher`]).
    cross: Option<CrossBatcher>,
    /// What the lean statement needs per (group, filter) (see [`LeanHint`]).
    hints: Mutex<HashMap<BatchKey, Arc<LeanHint>>>,
    /// Increments counted by the lean statement, and full statements sent.
    lean_counted: AtomicU64,
    full_sent: AtomicU64,
    /// Cross-key batch statements sent.
    cross_batches: AtomicU64,
    /// Connections kept between statements (see [`Warm`]).
    warm: Warm<Postgres>,
}

impl PgStore {
    pub async fn connect(
        servers: PgServers,
        pool: &PoolSettings,
        budget: BudgetSettings,
    ) -> Result<PgStore> {
        let target = servers.describe();
        let placement = servers::Placement::new(servers);
        let moved = placement.moved();
        let first = placement.current().clone();
        let pg_pool = PgPoolOptions::new()
            .max_connections(pool.max)
            .min_connections(pool.min)
            .acquire_timeout(pool.acquire_timeout)
            .idle_timeout(pool.idle_timeout)
            // A connection opened before the pool moved to another server (a failover) is
            // closed instead of used.
            .before_acquire(move |_, meta| {
                let keep = !moved.predates(meta.age);
                Box::pin(async move { Ok(keep) })
            })
            .connect_lazy_with(tuned(pool.pooler, first));
        let store = PgStore {
            pool: pg_pool,
            budget,
            pooler: pool.pooler,
            placement,
            target,
            probe: tokio::sync::Mutex::new(None),
            coalescer: pool.coalesce.then(Coalescer::default),
            cross: pool
                .cross_key_batching
                .then(|| CrossBatcher::new(pool.cross_key_statements as usize)),
            hints: Mutex::default(),
            lean_counted: AtomicU64::new(0),
            full_sent: AtomicU64::new(0),
            cross_batches: AtomicU64::new(0),
            warm: Warm::default(),
        };
        // The server to use (several listed), the first connection (through the probe, so a
        // server that is not there fails in about a second, with the cause) and the table.
        store.place().await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Increments counted by the lean statement, and full statements sent, since the store
    /// was opened (a diagnostic for tests and the benchmark).
    pub fn statement_counts(&self) -> (u64, u64) {
        (
            self.lean_counted.load(Ordering::Relaxed),
            self.full_sent.load(Ordering::Relaxed),
        )
    }

    /// Cross-key batch statements sent since the store was opened (a diagnostic).
    pub fn cross_key_batches(&self) -> u64 {
        self.cross_batches.load(Ordering::Relaxed)
    }

    /// Statements refused by a read-only server (each sent again, or reported
    /// `PSPAS_DB_UNAVAILABLE`), and moves of the pool to another listed server, since the
    /// store was opened (diagnostics).
    pub fn server_counts(&self) -> (u64, u64) {
        self.placement.counts()
    }

    /// A server's options as this store connects with them.
    fn tuned(&self, o: PgConnectOptions) -> PgConnectOptions {
        tuned(self.pooler, o)
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
        // Every migration is idempotent (IF NOT EXISTS, OR REPLACE), so the transaction is
        // sent again, as a read is, when its connection breaks; a read-only server's refusal
        // is handled as any statement's (see `exec.rs`).
        self.run(Kind::Read, |mut conn| async move {
            let result = async {
                let mut tx = conn.begin().await?;
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"
                )))
                .execute(&mut *tx)
                .await?;
                for migration in MIGRATIONS {
                    sqlx::raw_sql(*migration).execute(&mut *tx).await?;
                }
                tx.commit().await
            }
            .await;
            (conn, result)
        })
        .await
    }

    /// What a budget status is computed from: `is_active`, usage, configuration, period, and
    /// the database's clock in epoch ms.
    async fn budget_row(
        &self,
        id: i64,
    ) -> Result<Option<(bool, serde_json::Value, serde_json::Value, Period, i64)>> {
        let sql = BUDGET_ROW.get("");
        let rows = self
            .rows(Kind::Read, || {
                sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(self.tz())
                    .bind(id)
            })
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let json = |column: &str| -> Result<serde_json::Value> {
            Ok(crate::store::stored_json(row.try_get::<&str, _>(column)?))
        };
        Ok(Some((
            row.try_get("is_active")?,
            json("usage")?,
            json("configuration")?,
            period_of(row)?,
            row.try_get("now_ms")?,
        )))
    }
}

impl Store for PgStore {
    async fn insert(&self, key: &NewKey) -> Result<KeyRecord> {
        let sql = INSERT.get("");
        let configuration = key.configuration.to_string();
        let shaped =
            crate::envelope::is_envelope_shaped(&key.encrypted_api_key, &key.encrypted_aes_key);
        let persistent = !self.pooler;
        let row = self
            .run(Kind::Write, |mut conn| {
                let sql = sql.clone();
                let configuration = configuration.as_str();
                async move {
                    let r = async {
                        let mut tx = conn.begin().await?;
                        sqlx::query(INSERT_LOCK)
                            .persistent(persistent)
                            .execute(&mut *tx)
                            .await?;
                        let row = sqlx::query(AssertSqlSafe(sql))
                            .persistent(persistent)
                            .bind(self.tz())
                            .bind(key.group_id)
                            .bind(key.user_id)
                            .bind(key.ai_model_id)
                            .bind(key.external_api_id)
                            .bind(configuration)
                            .bind(key.encrypted_api_key.as_str())
                            .bind(key.encrypted_aes_key.as_str())
                            .bind(shaped)
                            .fetch_optional(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        Ok::<_, sqlx::Error>(row)
                    }
                    .await;
                    (conn, r)
                }
            })
            .await?;
        match row {
            Some(row) => record(&row),
            None => Err(Error::DuplicateKey),
        }
    }

    async fn list(&self, group_id: i64, filter: &KeyFilter) -> Result<Vec<KeyRecord>> {
        let (cond, binds) = filter_sql(filter, '$', 3);
        let sql = LIST.get(&cond);
        let rows = self
            .rows(Kind::Read, || {
                let mut q = sqlx::query(AssertSqlSafe(sql.clone()))
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

    async fn increment(
        &self,
        group_id: i64,
        filter: &KeyFilter,
        amount: f64,
        request: Option<&Request>,
    ) -> Result<Increment> {
        let (cond, binds) = filter_sql(filter, '$', FULL_FILTER_FROM);
        let target = Target {
            key: (group_id, cond, binds),
            filter: *filter,
            lean_cond: filter_sql(filter, '$', LEAN_FILTER_FROM).0,
        };
        if let Some(request) = request {
            return self.increment_once(&target, amount, request).await;
        }
        let Some(coalescer) = &self.coalescer else {
            return self.increment_alone(&target, amount).await;
        };
        self.increment_coalesced(coalescer, &target, amount).await
    }

    async fn reserve(
        &self,
        group_id: i64,
        filter: &KeyFilter,
        estimate: f64,
        ttl: Option<std::time::Duration>,
        request: Option<&Request>,
    ) -> Result<Reserve> {
        let (cond, binds) = filter_sql(filter, '$', FULL_FILTER_FROM);
        let target = Target {
            key: (group_id, cond, binds),
            filter: *filter,
            lean_cond: String::new(),
        };
        let ttl = ttl.unwrap_or(self.budget.reservation_ttl);
        self.reserve_hold(&target, estimate, ttl, request).await
    }

    async fn finish(&self, reservation_id: &str, actual: Option<f64>) -> Result<Finished> {
        self.finish_hold(reservation_id, actual).await
    }

    async fn undo_increment(&self, picked: &Picked, amount: f64) -> Result<()> {
        self.rows(Kind::Write, || {
            sqlx::query(UNDO_INCREMENT)
                .bind(picked.id)
                .bind(amount)
                .bind(&picked.day)
                .bind(&picked.month)
        })
        .await?;
        Ok(())
    }

    async fn forget_request(&self, group_id: i64, request_id: &str) -> Result<()> {
        self.forget(group_id, request_id).await
    }

    async fn set_active(&self, id: i64, active: bool) -> Result<bool> {
        let rows = self
            .rows(Kind::Write, || {
                sqlx::query(SET_ACTIVE).bind(id).bind(active)
            })
            .await?;
        Ok(!rows.is_empty())
    }

    async fn set_configuration(&self, id: i64, configuration: &serde_json::Value) -> Result<bool> {
        let text = configuration.to_string();
        let rows = self
            .rows(Kind::Write, || {
                sqlx::query(SET_CONFIGURATION).bind(id).bind(text.as_str())
            })
            .await?;
        Ok(!rows.is_empty())
    }

    async fn usage(&self, id: i64) -> Result<Option<Usage>> {
        Ok(self
            .budget_row(id)
            .await?
            .map(|(_, usage, _, period, _)| budget::effective_usage(&usage, &period)))
    }

    async fn budget_status(&self, id: i64) -> Result<Option<BudgetStatus>> {
        Ok(self
            .budget_row(id)
            .await?
            .map(|(active, usage, config, period, now_ms)| {
                let enforce = self.budget.enforce;
                budget::status(id, active, enforce, &usage, &config, &period, now_ms)
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

    async fn duplicate_keys(&self) -> Result<Vec<DuplicateSet>> {
        let rows = self
            .rows(Kind::Read, || sqlx::query(DUPLICATE_KEYS))
            .await?;
        rows.iter().map(super::rows::duplicate_set).collect()
    }
    async fn claim_events(&self, claim: &Claim) -> Result<Vec<OutboxEvent>> {
        PgStore::claim_events(self, claim).await
    }
    async fn ack_events(&self, ids: &[i64]) -> Result<u64> {
        PgStore::ack_events(self, ids).await
    }
    async fn list_events(&self, state: Option<EventState>, limit: i64) -> Result<Vec<OutboxEvent>> {
        PgStore::list_events(self, state, limit).await
    }
    async fn retry_event(&self, id: i64) -> Result<bool> {
        PgStore::retry_event(self, id).await
    }
}

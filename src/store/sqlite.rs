//! SQLite, the embedded default: all SQL of this backend. WAL mode and a busy timeout let
//! several processes share one file. The increment runs [`budget::decide`] inside a
//! `BEGIN IMMEDIATE` transaction: SQLite's single writer lock makes it atomic across
//! processes, and the database file's machine clock is the one clock.

use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{AssertSqlSafe, Row, Sqlite};

use super::{filter_sql, Increment, Store, Warm};
use crate::budget::{self, BudgetStatus, Candidate, Period};
use crate::config::{BudgetSettings, PoolSettings};
use crate::error::{Error, Result};
use crate::model::{KeyFilter, KeyRecord, NewKey, Picked, Usage};
use crate::rotation::{Rewrap, WrappedKey};

const MIGRATION: &str =
    include_str!("../../migrations/sqlite/0001_create_ps_private_access_store.sql");
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
const COLUMNS: &str =
    "id, group_id, user_id, ai_model_id, external_api_id, encrypted_api_key, encrypted_aes_key, \
    configuration, usage, created_at, updated_at, last_used_at, COALESCE(is_active, 1)";

fn add_to_counters(op: char, param: &str) -> String {
    let c = |k: &str| format!("'$.{k}', COALESCE(json_extract(usage, '$.{k}'), 0) {op} {param}");
    format!(
        "json_set(COALESCE(usage, '{{}}'), {}, {}, {})",
        c("dailyUse"),
        c("monthlyUse"),
        c("totalUse")
    )
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

fn json(row: &SqliteRow, i: usize) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(row.try_get::<&str, _>(i)?).unwrap_or_default())
}

fn record(row: &SqliteRow, period: &Period) -> Result<KeyRecord> {
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
        usage: budget::effective_usage(&json(row, 8)?, period),
        created_at: timestamp(row.try_get(9)?),
        updated_at: timestamp(row.try_get(10)?),
        last_used_at: timestamp(row.try_get(11)?),
        is_active: row.try_get(12)?,
    })
}

pub struct SqliteStore {
    pool: SqlitePool,
    budget: BudgetSettings,
    /// Connections kept between increments (see [`Warm`]).
    warm: Warm<Sqlite>,
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
        sqlx::raw_sql(MIGRATION).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(SqliteStore {
            pool,
            budget,
            warm: Warm::default(),
        })
    }
}

impl Store for SqliteStore {
    async fn insert(&self, key: &NewKey) -> Result<KeyRecord> {
        let sql = format!(
            "INSERT INTO ps_private_access_store (group_id, user_id, ai_model_id, external_api_id, configuration, \
             usage, encrypted_api_key, encrypted_aes_key, created_at, updated_at, is_active) \
             VALUES (?1, ?2, ?3, ?4, ?5, '{{\"dailyUse\":0,\"monthlyUse\":0,\"totalUse\":0}}', ?6, ?7, {NOW}, {NOW}, 1) \
             RETURNING {COLUMNS}"
        );
        let mut conn = self.conn().await?;
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(key.group_id)
            .bind(key.user_id)
            .bind(key.ai_model_id)
            .bind(key.external_api_id)
            .bind(key.configuration.to_string())
            .bind(&key.encrypted_api_key)
            .bind(&key.encrypted_aes_key)
            .fetch_one(&mut *conn)
            .await?;
        self.warm.keep(conn);
        record(&row, &self.period())
    }

    async fn list(&self, group_id: i64, filter: &KeyFilter) -> Result<Vec<KeyRecord>> {
        let (cond, binds) = filter_sql(filter, '?', 2);
        let sql = format!(
            "SELECT {COLUMNS} FROM ps_private_access_store WHERE group_id = ?1{cond} \
             ORDER BY COALESCE(is_active, 1) DESC, id ASC"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql.as_str())).bind(group_id);
        for b in binds {
            q = q.bind(b);
        }
        let period = self.period();
        let mut conn = self.conn().await?;
        let rows = q.fetch_all(&mut *conn).await?;
        self.warm.keep(conn);
        rows.iter().map(|r| record(r, &period)).collect()
    }

    async fn increment(&self, group_id: i64, filter: &KeyFilter, amount: f64) -> Result<Increment> {
        let (cond, binds) = filter_sql(filter, '?', 2);
        let sql = format!(
            "SELECT id, group_id, ai_model_id, external_api_id, usage, configuration FROM ps_private_access_store \
             WHERE group_id = ?1 AND is_active IS NOT FALSE{cond} ORDER BY id"
        );
        let mut conn = self.conn().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
        let mut q = sqlx::query(AssertSqlSafe(sql.as_str())).bind(group_id);
        for b in binds {
            q = q.bind(b);
        }
        let candidates = q
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                Ok(Candidate {
                    id: r.try_get(0)?,
                    group_id: r.try_get(1)?,
                    ai_model_id: r.try_get(2)?,
                    external_api_id: r.try_get(3)?,
                    usage: json(r, 4)?,
                    configuration: json(r, 5)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let decision = budget::decide(&candidates, amount, &self.period(), self.budget.enforce);
        let mut picked = None;
        for w in &decision.writes {
            let usage = w.usage.to_string();
            if Some(w.id) == decision.granted {
                let sql = format!(
                    "UPDATE ps_private_access_store SET usage = ?2, last_used_at = {NOW}, updated_at = {NOW} \
                     WHERE id = ?1 RETURNING encrypted_api_key, encrypted_aes_key"
                );
                let row = sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(w.id)
                    .bind(usage)
                    .fetch_one(&mut *tx)
                    .await?;
                picked = Some(Picked {
                    id: w.id,
                    encrypted_api_key: row.try_get(0)?,
                    encrypted_aes_key: row.try_get(1)?,
                });
            } else {
                sqlx::query("UPDATE ps_private_access_store SET usage = ?2 WHERE id = ?1")
                    .bind(w.id)
                    .bind(usage)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.warm.keep(conn);
        Ok(Increment {
            picked,
            events: decision.events,
        })
    }

    async fn undo_increment(&self, picked: &Picked, amount: f64) -> Result<()> {
        let sql = format!(
            "UPDATE ps_private_access_store SET usage = {} WHERE id = ?1",
            add_to_counters('-', "?2")
        );
        let mut conn = self.conn().await?;
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(picked.id)
            .bind(amount)
            .execute(&mut *conn)
            .await?;
        self.warm.keep(conn);
        Ok(())
    }

    async fn set_active(&self, id: i64, active: bool) -> Result<bool> {
        let sql = format!(
            "UPDATE ps_private_access_store SET is_active = ?2, updated_at = {NOW} WHERE id = ?1"
        );
        let mut conn = self.conn().await?;
        let r = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(id)
            .bind(active)
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
            )
        }))
    }

    async fn close(&self) {
        self.warm.release_all();
        self.pool.close().await
    }

    async fn wrapped_keys(&self, after_id: i64, limit: i64) -> Result<Vec<WrappedKey>> {
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT id, encrypted_api_key, encrypted_aes_key FROM ps_private_access_store \
             WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
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
            written += sqlx::query(
                "UPDATE ps_private_access_store SET encrypted_aes_key = ?3 \
                 WHERE id = ?1 AND encrypted_aes_key = ?2",
            )
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
        let keys = sqlx::query_scalar("SELECT count(*) FROM ps_private_access_store")
            .fetch_one(&mut *conn)
            .await?;
        self.warm.keep(conn);
        Ok(keys)
    }
}

impl SqliteStore {
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
        let row = sqlx::query(
            "SELECT COALESCE(is_active, 1), usage, configuration FROM ps_private_access_store WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        self.warm.keep(conn);
        row.map(|r| Ok((r.try_get(0)?, json(&r, 1)?, json(&r, 2)?)))
            .transpose()
    }
}

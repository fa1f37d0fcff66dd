//! SQLite, the embedded default: all SQL of this backend. WAL mode and a busy timeout let
//! several processes share one file; every write is one statement, hence atomic.

use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{AssertSqlSafe, Row};

use super::{filter_sql, Store};
use crate::config::PoolSettings;
use crate::error::{Error, Result};
use crate::model::{KeyFilter, KeyRecord, NewKey, Picked, Usage};

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

fn record(row: &SqliteRow) -> Result<KeyRecord> {
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
        usage: Usage::from_json(row.try_get(8)?),
        created_at: timestamp(row.try_get(9)?),
        updated_at: timestamp(row.try_get(10)?),
        last_used_at: timestamp(row.try_get(11)?),
        is_active: row.try_get(12)?,
    })
}

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(path: &Path, pool: &PoolSettings) -> Result<SqliteStore> {
        let unavailable = |e: sqlx::Error| Error::DbUnavailable {
            target: format!("sqlite:{}", path.display()),
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
        Ok(SqliteStore { pool })
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
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(key.group_id)
            .bind(key.user_id)
            .bind(key.ai_model_id)
            .bind(key.external_api_id)
            .bind(key.configuration.to_string())
            .bind(&key.encrypted_api_key)
            .bind(&key.encrypted_aes_key)
            .fetch_one(&self.pool)
            .await?;
        record(&row)
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
        q.fetch_all(&self.pool).await?.iter().map(record).collect()
    }

    async fn increment(
        &self,
        group_id: i64,
        filter: &KeyFilter,
        amount: f64,
    ) -> Result<Option<Picked>> {
        let (cond, binds) = filter_sql(filter, '?', 3);
        let sql = format!(
            "UPDATE ps_private_access_store SET usage = {usage}, last_used_at = {NOW}, updated_at = {NOW} \
             WHERE id = (SELECT id FROM ps_private_access_store WHERE group_id = ?1 AND is_active IS NOT FALSE{cond} \
               ORDER BY id LIMIT 1) \
             RETURNING id, encrypted_api_key, encrypted_aes_key",
            usage = add_to_counters('+', "?2")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(group_id)
            .bind(amount);
        for b in binds {
            q = q.bind(b);
        }
        q.fetch_optional(&self.pool)
            .await?
            .map(|row| {
                Ok(Picked {
                    id: row.try_get(0)?,
                    encrypted_api_key: row.try_get(1)?,
                    encrypted_aes_key: row.try_get(2)?,
                })
            })
            .transpose()
    }

    async fn undo_increment(&self, picked: &Picked, amount: f64) -> Result<()> {
        let sql = format!(
            "UPDATE ps_private_access_store SET usage = {} WHERE id = ?1",
            add_to_counters('-', "?2")
        );
        sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(picked.id)
            .bind(amount)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_active(&self, id: i64, active: bool) -> Result<bool> {
        let sql = format!(
            "UPDATE ps_private_access_store SET is_active = ?2, updated_at = {NOW} WHERE id = ?1"
        );
        let r = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(id)
            .bind(active)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn usage(&self, id: i64) -> Result<Option<Usage>> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT usage FROM ps_private_access_store WHERE id = ?1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(text.as_deref().map(Usage::from_json))
    }

    async fn close(&self) {
        self.pool.close().await
    }
}

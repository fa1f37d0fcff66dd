//! PostgreSQL: all SQL of this backend.

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Row};

use super::{filter_sql, with_retry, Store};
use crate::config::{DbTarget, PoolSettings};
use crate::error::{Error, Result};
use crate::model::{KeyFilter, KeyRecord, NewKey, Picked, Usage};

const MIGRATION: &str =
    include_str!("../../migrations/postgres/0001_create_ps_private_access_store.sql");
/// Advisory lock id serializing the create-table migration across processes ("pspas" in hex).
const MIGRATION_LOCK: i64 = 0x0070_7370_6173;

const COLUMNS: &str = "id::int8, group_id::int8, user_id::int8, ai_model_id::int8, external_api_id::int8, \
    encrypted_api_key, encrypted_aes_key, configuration::text, usage::text, created_at, updated_at, \
    last_used_at, COALESCE(is_active, true)";

/// `usage` with `$n` added to each documented counter; other keys of the JSON are kept.
fn add_to_counters(param: &str) -> String {
    let c = |k: &str| {
        format!("'{k}', COALESCE((usage->>'{k}')::numeric, 0) + {param}::float8::numeric")
    };
    format!(
        "COALESCE(usage, '{{}}'::jsonb) || jsonb_build_object({}, {}, {})",
        c("dailyUse"),
        c("monthlyUse"),
        c("totalUse")
    )
}

pub struct PgStore {
    pool: PgPool,
}

fn record(row: &PgRow) -> Result<KeyRecord> {
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
        created_at: row.try_get(9)?,
        updated_at: row.try_get(10)?,
        last_used_at: row.try_get(11)?,
        is_active: row.try_get(12)?,
    })
}

impl PgStore {
    pub async fn connect(opts: PgConnectOptions, pool: &PoolSettings) -> Result<PgStore> {
        let target = DbTarget::Postgres(Box::new(opts.clone())).describe();
        let unavailable = |e: sqlx::Error| Error::DbUnavailable {
            target: target.clone(),
            reason: e.to_string(),
        };
        let pool = PgPoolOptions::new()
            .max_connections(pool.max)
            .min_connections(pool.min)
            .acquire_timeout(pool.acquire_timeout)
            .idle_timeout(pool.idle_timeout)
            .connect_with(opts)
            .await
            .map_err(unavailable)?;
        let store = PgStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Create the table when it is missing. An existing table (PolicySynth's) is left as is.
    async fn migrate(&self) -> Result<()> {
        let exists: bool =
            sqlx::query_scalar("SELECT to_regclass('ps_private_access_store') IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        if exists {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(MIGRATION).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Store for PgStore {
    async fn insert(&self, key: &NewKey) -> Result<KeyRecord> {
        let sql = format!(
            "INSERT INTO ps_private_access_store (group_id, user_id, ai_model_id, external_api_id, configuration, \
             usage, encrypted_api_key, encrypted_aes_key, created_at, updated_at, is_active) \
             VALUES ($1, $2, $3, $4, $5::jsonb, '{{\"dailyUse\":0,\"monthlyUse\":0,\"totalUse\":0}}'::jsonb, $6, $7, \
             now(), now(), true) RETURNING {COLUMNS}"
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
        let (cond, binds) = filter_sql(filter, '$', 2);
        let sql = format!(
            "SELECT {COLUMNS} FROM ps_private_access_store WHERE group_id = $1{cond} \
             ORDER BY COALESCE(is_active, true) DESC, id ASC"
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
        // One statement, one round trip: lock the first matching active row (re-checked after
        // any lock wait, so a key deactivated meanwhile is skipped), count, return ciphertext.
        let (cond, binds) = filter_sql(filter, '$', 3);
        let sql = format!(
            "WITH picked AS (SELECT id FROM ps_private_access_store \
               WHERE group_id = $1 AND is_active IS NOT FALSE{cond} ORDER BY id LIMIT 1 FOR UPDATE) \
             UPDATE ps_private_access_store AS s SET usage = {usage}, last_used_at = now(), updated_at = now() \
             FROM picked WHERE s.id = picked.id \
             RETURNING s.id::int8, s.encrypted_api_key, s.encrypted_aes_key",
            usage = add_to_counters("$2").replace("usage", "s.usage")
        );
        with_retry(|| {
            let mut q = sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(group_id)
                .bind(amount);
            for b in &binds {
                q = q.bind(*b);
            }
            q.fetch_optional(&self.pool)
        })
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
            "UPDATE ps_private_access_store SET usage = {} WHERE id = $1",
            add_to_counters("$2").replace("+ $2", "- $2")
        );
        with_retry(|| {
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(picked.id)
                .bind(amount)
                .execute(&self.pool)
        })
        .await?;
        Ok(())
    }

    async fn set_active(&self, id: i64, active: bool) -> Result<bool> {
        let r = with_retry(|| {
            sqlx::query("UPDATE ps_private_access_store SET is_active = $2, updated_at = now() WHERE id = $1")
                .bind(id)
                .bind(active)
                .execute(&self.pool)
        })
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn usage(&self, id: i64) -> Result<Option<Usage>> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT usage::text FROM ps_private_access_store WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(text.as_deref().map(Usage::from_json))
    }

    async fn close(&self) {
        self.pool.close().await
    }
}

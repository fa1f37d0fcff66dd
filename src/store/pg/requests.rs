//! Increments made with a `requestId`: one transaction claims the id, decides the call with
//! the full statement and records the key it served, so the call counts once however often
//! it is sent (sequentially or concurrently, from any process, through a transaction-mode
//! pooler too). A repeat within the retention window counts nothing, fires no event and
//! serves the key the first call served; one with another amount or filter is a conflict.

use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use super::exec::Kind;
use super::increment::{full_outcome, Target};
use super::statements::{
    REQUEST_CLAIM, REQUEST_FIND, REQUEST_FORGET, REQUEST_PRUNE, REQUEST_RECORD,
};
use super::PgStore;
use crate::error::{Error, Result};
use crate::model::{Picked, Request};
use crate::store::Increment;

/// What the transaction found.
enum Claimed {
    /// The id was new: the call was decided and recorded.
    Counted(Increment),
    /// The id was claimed before with the same fingerprint: the key it served (if any).
    Repeat(Option<(i64, String, String)>),
    /// The id was claimed before with another fingerprint.
    Conflict,
}

impl PgStore {
    /// One call made with `request` (see the module doc).
    pub(super) async fn increment_once(
        &self,
        target: &Target,
        amount: f64,
        request: &Request,
    ) -> Result<Increment> {
        let group_id = target.key.0;
        let retention = self.budget.request_retention.as_millis() as f64;
        let persistent = !self.pooler;
        let claimed = self
            .run(Kind::Write, |mut conn| async move {
                let r = async {
                    let mut tx = conn.begin().await?;
                    let out = self
                        .claim_and_count(
                            &mut tx, group_id, target, amount, request, retention, persistent,
                        )
                        .await?;
                    tx.commit().await?;
                    Ok(out)
                }
                .await;
                (conn, r)
            })
            .await?;
        match claimed {
            Claimed::Counted(out) => Ok(out),
            Claimed::Conflict => Err(Error::INCREMENT_CONFLICT),
            Claimed::Repeat(key) => Ok(Increment {
                picked: key.map(|(id, encrypted_api_key, encrypted_aes_key)| Picked {
                    id,
                    encrypted_api_key,
                    encrypted_aes_key,
                    day: String::new(),
                    month: String::new(),
                }),
                events: Vec::new(),
                replayed: true,
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn claim_and_count(
        &self,
        tx: &mut PgConnection,
        group_id: i64,
        target: &Target,
        amount: f64,
        request: &Request,
        retention: f64,
        persistent: bool,
    ) -> std::result::Result<Claimed, sqlx::Error> {
        let fresh = sqlx::query(REQUEST_CLAIM)
            .persistent(persistent)
            .bind(group_id)
            .bind(&request.id)
            .bind(&request.fingerprint)
            .bind(retention)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !fresh {
            let row = sqlx::query(REQUEST_FIND)
                .persistent(persistent)
                .bind(group_id)
                .bind(&request.id)
                .fetch_one(&mut *tx)
                .await?;
            if row.try_get::<&str, _>("fingerprint")? != request.fingerprint {
                return Ok(Claimed::Conflict);
            }
            let key = match row.try_get::<Option<i64>, _>("id")? {
                Some(id) => Some((
                    id,
                    row.try_get("encrypted_api_key")?,
                    row.try_get("encrypted_aes_key")?,
                )),
                None => None,
            };
            return Ok(Claimed::Repeat(key));
        }
        sqlx::query(REQUEST_PRUNE)
            .persistent(persistent)
            .bind(retention)
            .execute(&mut *tx)
            .await?;
        let rows = self
            .full_query(target, amount, None)
            .persistent(persistent)
            .fetch_all(&mut *tx)
            .await?;
        let (out, _) = full_outcome(&rows).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        sqlx::query(REQUEST_RECORD)
            .persistent(persistent)
            .bind(group_id)
            .bind(&request.id)
            .bind(out.picked.as_ref().map(|p| p.id))
            .execute(&mut *tx)
            .await?;
        Ok(Claimed::Counted(out))
    }

    /// Forget a request (its increment was undone), so a retry counts afresh.
    pub(super) async fn forget(&self, group_id: i64, request_id: &str) -> Result<()> {
        self.rows(Kind::Write, || {
            sqlx::query(REQUEST_FORGET).bind(group_id).bind(request_id)
        })
        .await?;
        Ok(())
    }
}

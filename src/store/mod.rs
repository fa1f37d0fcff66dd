//! Storage: one [`Store`] trait, a PostgreSQL and a SQLite implementation, chosen from the
//! configured target. Each backend keeps all its SQL in its own module, parameterized; the
//! filter clause is built here once for both.
//!
//! (Over 400 lines, barely: the trait, its dispatch over the two backends, and the helpers
//! both backends share: warm connections, the filter clause, the row readers.)

use std::future::Future;

use crate::budget::{BudgetEvent, BudgetStatus};
use crate::config::{BudgetSettings, DbTarget, PoolSettings};
use crate::error::Result;
use crate::model::{ActiveFilter, IdFilter, KeyFilter, KeyRecord, NewKey, Picked, Request, Usage};
use crate::outbox::{Claim, EventState, OutboxEvent};
use crate::reservation::{Finished, Reserve};
use crate::rotation::{Rewrap, WrappedKey};

/// The outcome of one increment: the key served (if any) and the budget events it caused.
#[derive(Debug, Default)]
pub struct Increment {
    pub picked: Option<Picked>,
    pub events: Vec<BudgetEvent>,
    /// A repeat of a request id: nothing was counted, `picked` is the key the first call
    /// served (never undone).
    pub replayed: bool,
}

/// Key ids that share a stored ciphertext (see [`Store::duplicate_keys`]), with one of their
/// pairs (never shown; it tells real envelopes from junk pairs that may repeat).
#[derive(Debug)]
pub struct DuplicateSet {
    pub ids: Vec<i64>,
    pub encrypted_api_key: String,
    pub encrypted_aes_key: String,
}

impl DuplicateSet {
    /// A set from a `duplicate_keys.sql` row's columns (`ids` comma-separated).
    pub(crate) fn of(ids: &str, encrypted_api_key: String, encrypted_aes_key: String) -> Self {
        let mut ids: Vec<i64> = ids.split(',').filter_map(|i| i.parse().ok()).collect();
        ids.sort_unstable();
        DuplicateSet {
            ids,
            encrypted_api_key,
            encrypted_aes_key,
        }
    }
}

pub mod pg;
mod rows;
pub mod sqlite;
mod template;

/// How long a connection whose last statement succeeded is kept out of the pool for the next
/// statement (see [`Warm`]).
const WARM_FOR: std::time::Duration = std::time::Duration::from_millis(1000);

/// Connections kept between statements, oldest first, each with the time its last statement
/// succeeded. sqlx's pool tests a connection with a round trip both when it is acquired and
/// when it is released (a network round trip to PostgreSQL, a hop to the connection's worker
/// thread on SQLite); for a connection that has just answered, those two tests doubled the
/// round trips and wake-ups of every call. A finished statement hands its connection straight
/// to a call waiting for one (gives it back to the pool when the call waits there), else keeps
/// it here; a connection unused for [`WARM_FOR`] goes back to the pool, which tests it on the
/// way in and out as before and applies its idle timeout. A connection the server dropped
/// meanwhile is no risk to exactness: its statement fails and is retried or reported like any
/// statement that meets a dropped connection.
pub(crate) struct Warm<DB: sqlx::Database> {
    inner: std::sync::Mutex<WarmInner<DB>>,
}

type Conn<DB> = sqlx::pool::PoolConnection<DB>;

struct WarmInner<DB: sqlx::Database> {
    kept: Vec<(Conn<DB>, std::time::Instant)>,
    /// Calls waiting on the pool, which also take a connection handed over by [`Warm::keep`].
    waiters: std::collections::VecDeque<tokio::sync::oneshot::Sender<Conn<DB>>>,
    /// Calls that went to the pool alone (it had an idle connection or room for a new one
    /// when they looked) and have not got one yet. Two calls on two threads can both see
    /// the one idle connection: the loser waits on the pool, where only a connection given
    /// back to the pool reaches it, so [`Warm::keep`] gives connections back while any waits.
    acquiring: usize,
}

impl<DB: sqlx::Database> Default for Warm<DB> {
    fn default() -> Self {
        Warm {
            inner: std::sync::Mutex::new(WarmInner {
                kept: Vec::new(),
                waiters: std::collections::VecDeque::new(),
                acquiring: 0,
            }),
        }
    }
}

impl<DB: sqlx::Database> Warm<DB> {
    fn lock(&self) -> std::sync::MutexGuard<'_, WarmInner<DB>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection: the one that answered most recently if that was within [`WARM_FOR`];
    /// else, while `pool` can still open or hand out one, one from it (through `acquire`);
    /// else, when every connection is out, whichever comes first of one from the pool and
    /// one handed over by a statement that finishes meanwhile. (Racing a handed-over
    /// connection against the pool while it is still opening connections would cancel every
    /// connect, and the calls would end up sharing the first connection or two.)
    pub(crate) async fn acquire<F, E>(
        &self,
        pool: &sqlx::Pool<DB>,
        acquire: F,
    ) -> std::result::Result<Conn<DB>, E>
    where
        F: Future<Output = std::result::Result<Conn<DB>, E>>,
    {
        let handed = {
            let mut inner = self.lock();
            if let Some((conn, at)) = inner.kept.pop() {
                if at.elapsed() < WARM_FOR {
                    return Ok(conn);
                }
                // The newest is stale, so all are: back to the pool.
                inner.kept.clear();
                drop(conn);
            }
            if pool.num_idle() > 0 || pool.size() < pool.options().get_max_connections() {
                inner.acquiring += 1;
                None
            } else {
                let (tx, rx) = tokio::sync::oneshot::channel();
                inner.waiters.push_back(tx);
                Some(rx)
            }
        };
        let Some(handed) = handed else {
            // Counted until it has one (or gives up, or is dropped).
            let _acquiring = Acquiring(self);
            return acquire.await;
        };
        tokio::pin!(acquire);
        tokio::select! {
            biased;
            Ok(conn) = handed => Ok(conn),
            conn = &mut acquire => conn,
        }
    }

    /// A connection whose statement just succeeded: to a waiting call; else back to the pool
    /// if a call waits there; else kept (and the ones kept too long go back to the pool).
    pub(crate) fn keep(&self, conn: Conn<DB>) {
        let now = std::time::Instant::now();
        let mut inner = self.lock();
        let mut conn = conn;
        while let Some(waiter) = inner.waiters.pop_front() {
            match waiter.send(conn) {
                Ok(()) => return,
                // That call got one from the pool meanwhile.
                Err(back) => conn = back,
            }
        }
        if inner.acquiring > 0 {
            // Kept, it would reach no one: that call waits until the acquire timeout.
            drop(inner);
            drop(conn);
            return;
        }
        let stale = inner
            .kept
            .iter()
            .take_while(|(_, at)| now.duration_since(*at) >= WARM_FOR)
            .count();
        inner.kept.drain(..stale);
        inner.kept.push((conn, now));
    }

    /// Every kept connection back to the pool (before closing it: the pool's close waits for
    /// every connection to come back).
    pub(crate) fn release_all(&self) {
        self.lock().kept.clear();
    }
}

/// A call counted in [`WarmInner::acquiring`] while it waits on the pool alone.
struct Acquiring<'a, DB: sqlx::Database>(&'a Warm<DB>);

impl<DB: sqlx::Database> Drop for Acquiring<'_, DB> {
    fn drop(&mut self) {
        self.0.lock().acquiring -= 1;
    }
}

pub trait Store: Send + Sync {
    /// Insert a validated key with zero usage, active, timestamps now.
    fn insert(&self, key: &NewKey) -> impl Future<Output = Result<KeyRecord>> + Send;
    /// Rows of a group, `is_active DESC, id ASC`.
    fn list(
        &self,
        group_id: i64,
        filter: &KeyFilter,
    ) -> impl Future<Output = Result<Vec<KeyRecord>>> + Send;
    /// Atomically pick the group's first active matching key (id order) with budget room for
    /// `amount`, add it to its counters (restarting a counter whose period ended) and stamp
    /// `last_used_at`; flag threshold crossings and first refusals. No key: `picked` is `None`.
    ///
    /// With `request`, the call counts once per request id in the group within the retention
    /// window (see `pg/requests.rs`): a repeat counts nothing and returns the first call's key
    /// (`replayed`); one with another amount or filter is `PSPAS_IDEMPOTENCY_CONFLICT`.
    fn increment(
        &self,
        group_id: i64,
        filter: &KeyFilter,
        amount: f64,
        request: Option<&Request>,
    ) -> impl Future<Output = Result<Increment>> + Send;
    /// Admit a call for `estimate` as `increment` does (same keys, order, room rule and
    /// refusal events), but place a hold of `estimate` on the granted key, expiring after
    /// `ttl` (the configured default when `None`), instead of counting it (see [`crate::reservation`]). With `request`, a repeat
    /// returns the first reserve's hold (`replayed`) while its record is kept; one with another
    /// estimate or filter is `PSPAS_IDEMPOTENCY_CONFLICT`.
    fn reserve(
        &self,
        group_id: i64,
        filter: &KeyFilter,
        estimate: f64,
        ttl: Option<std::time::Duration>,
        request: Option<&Request>,
    ) -> impl Future<Output = Result<Reserve>> + Send;
    /// Settle (`actual` set) or release (`None`) a reservation, its row and its key's row
    /// locked (see [`crate::reservation::step`]).
    fn finish(
        &self,
        reservation_id: &str,
        actual: Option<f64>,
    ) -> impl Future<Output = Result<Finished>> + Send;
    /// Reverse exactly one earlier `increment` of `picked` (used when its key cannot be opened).
    fn undo_increment(
        &self,
        picked: &Picked,
        amount: f64,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Forget a request id (its increment was undone), so a retry counts afresh.
    fn forget_request(
        &self,
        group_id: i64,
        request_id: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    fn set_active(&self, id: i64, active: bool) -> impl Future<Output = Result<bool>> + Send;
    /// Replace a key's configuration (already checked); `true` if the key exists.
    fn set_configuration(
        &self,
        id: i64,
        configuration: &serde_json::Value,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// The counters of the current period.
    fn usage(&self, id: i64) -> impl Future<Output = Result<Option<Usage>>> + Send;
    fn budget_status(&self, id: i64) -> impl Future<Output = Result<Option<BudgetStatus>>> + Send;
    fn close(&self) -> impl Future<Output = ()> + Send;
    /// Up to `limit` rows' wrapped data keys after id `after_id`, in id order (rotation).
    fn wrapped_keys(
        &self,
        after_id: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<WrappedKey>>> + Send;
    /// Write rewrapped data keys in one short transaction, each row locked and written only
    /// if it still holds the data key that was read; the number written.
    fn replace_wrapped_keys(&self, batch: &[Rewrap]) -> impl Future<Output = Result<u64>> + Send;
    /// The number of stored keys.
    fn count_keys(&self) -> impl Future<Output = Result<i64>> + Send;
    /// Sets of key ids sharing a ciphertext (stored copies), each with one of its pairs.
    fn duplicate_keys(&self) -> impl Future<Output = Result<Vec<DuplicateSet>>> + Send;
    /// Lease up to `claim.limit` claimable events to `claim.consumer`, oldest first; park the
    /// ones out of attempts and prune old acked ones on the way (see [`crate::outbox`]).
    fn claim_events(&self, claim: &Claim) -> impl Future<Output = Result<Vec<OutboxEvent>>> + Send;
    /// Ack pending events; the number acked.
    fn ack_events(&self, ids: &[i64]) -> impl Future<Output = Result<u64>> + Send;
    /// Events for an operator, newest first (`state`: only those; `None`: all).
    fn list_events(
        &self,
        state: Option<EventState>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>>> + Send;
    /// Un-park an event; `true` if it was parked.
    fn retry_event(&self, id: i64) -> impl Future<Output = Result<bool>> + Send;
}

/// The backend in use.
#[allow(
    clippy::large_enum_variant,
    reason = "one per service, made once and held in an Arc: never moved on a hot path"
)]
pub enum AnyStore {
    Postgres(pg::PgStore),
    Sqlite(sqlite::SqliteStore),
}

impl AnyStore {
    pub async fn connect(
        target: DbTarget,
        pool: &PoolSettings,
        budget: BudgetSettings,
    ) -> Result<AnyStore> {
        Ok(match target {
            DbTarget::Postgres(o) => {
                AnyStore::Postgres(pg::PgStore::connect(*o, pool, budget).await?)
            }
            DbTarget::Sqlite(p) => {
                AnyStore::Sqlite(sqlite::SqliteStore::connect(&p, pool, budget).await?)
            }
        })
    }
}

impl AnyStore {
    /// Cross-key batch statements sent so far (PostgreSQL; SQLite has none).
    pub fn cross_key_batches(&self) -> u64 {
        match self {
            AnyStore::Postgres(s) => s.cross_key_batches(),
            AnyStore::Sqlite(_) => 0,
        }
    }

    /// (statements refused by a read-only server, moves to another listed server) so far
    /// (PostgreSQL; SQLite has one file).
    pub fn server_counts(&self) -> (u64, u64) {
        match self {
            AnyStore::Postgres(s) => s.server_counts(),
            AnyStore::Sqlite(_) => (0, 0),
        }
    }

    /// Increments counted by one statement with no budget decision of its own so far
    /// (PostgreSQL's lean statement, SQLite's one-statement increment).
    pub fn lean_increments(&self) -> u64 {
        match self {
            AnyStore::Postgres(s) => s.statement_counts().0,
            AnyStore::Sqlite(s) => s.lean_counted(),
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Postgres($s) => $e,
            AnyStore::Sqlite($s) => $e,
        }
    };
}

impl Store for AnyStore {
    async fn insert(&self, key: &NewKey) -> Result<KeyRecord> {
        dispatch!(self, s => s.insert(key).await)
    }
    async fn list(&self, group_id: i64, filter: &KeyFilter) -> Result<Vec<KeyRecord>> {
        dispatch!(self, s => s.list(group_id, filter).await)
    }
    async fn increment(
        &self,
        group_id: i64,
        filter: &KeyFilter,
        amount: f64,
        request: Option<&Request>,
    ) -> Result<Increment> {
        dispatch!(self, s => s.increment(group_id, filter, amount, request).await)
    }
    async fn reserve(
        &self,
        group_id: i64,
        filter: &KeyFilter,
        estimate: f64,
        ttl: Option<std::time::Duration>,
        request: Option<&Request>,
    ) -> Result<Reserve> {
        dispatch!(self, s => s.reserve(group_id, filter, estimate, ttl, request).await)
    }
    async fn finish(&self, reservation_id: &str, actual: Option<f64>) -> Result<Finished> {
        dispatch!(self, s => s.finish(reservation_id, actual).await)
    }
    async fn forget_request(&self, group_id: i64, request_id: &str) -> Result<()> {
        dispatch!(self, s => s.forget_request(group_id, request_id).await)
    }
    async fn undo_increment(&self, picked: &Picked, amount: f64) -> Result<()> {
        dispatch!(self, s => s.undo_increment(picked, amount).await)
    }
    async fn set_active(&self, id: i64, active: bool) -> Result<bool> {
        dispatch!(self, s => s.set_active(id, active).await)
    }
    async fn set_configuration(&self, id: i64, configuration: &serde_json::Value) -> Result<bool> {
        dispatch!(self, s => s.set_configuration(id, configuration).await)
    }
    async fn usage(&self, id: i64) -> Result<Option<Usage>> {
        dispatch!(self, s => s.usage(id).await)
    }
    async fn budget_status(&self, id: i64) -> Result<Option<BudgetStatus>> {
        dispatch!(self, s => s.budget_status(id).await)
    }
    async fn close(&self) {
        dispatch!(self, s => s.close().await)
    }
    async fn wrapped_keys(&self, after_id: i64, limit: i64) -> Result<Vec<WrappedKey>> {
        dispatch!(self, s => s.wrapped_keys(after_id, limit).await)
    }
    async fn replace_wrapped_keys(&self, batch: &[Rewrap]) -> Result<u64> {
        dispatch!(self, s => s.replace_wrapped_keys(batch).await)
    }
    async fn count_keys(&self) -> Result<i64> {
        dispatch!(self, s => s.count_keys().await)
    }
    async fn duplicate_keys(&self) -> Result<Vec<DuplicateSet>> {
        dispatch!(self, s => s.duplicate_keys().await)
    }
    async fn claim_events(&self, claim: &Claim) -> Result<Vec<OutboxEvent>> {
        dispatch!(self, s => s.claim_events(claim).await)
    }
    async fn ack_events(&self, ids: &[i64]) -> Result<u64> {
        dispatch!(self, s => s.ack_events(ids).await)
    }
    async fn list_events(&self, state: Option<EventState>, limit: i64) -> Result<Vec<OutboxEvent>> {
        dispatch!(self, s => s.list_events(state, limit).await)
    }
    async fn retry_event(&self, id: i64) -> Result<bool> {
        dispatch!(self, s => s.retry_event(id).await)
    }
}

/// A stored usage or configuration JSON text as the budget rules read it: text that does not
/// parse (SQLite's hand edits; on both backends a number beyond a double's range) reads as
/// [`crate::budget::unreadable_json`], so that every counter, limit and threshold in it is
/// unreadable: refused and reported, never read as 0 or "no limit".
pub(crate) fn stored_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| crate::budget::unreadable_json())
}

/// A key record (the columns of `key_record.sql`), read the same way on both backends: usage
/// in `period` (the current one), timestamps through `timestamp` (each backend stores them its
/// own way). Usage text that does not parse reports its counters as unreadable (`null`, never
/// 0); a configuration that does not parse reads as `null`.
pub(crate) fn key_record<R: sqlx::Row>(
    row: &R,
    period: &crate::budget::Period,
    timestamp: impl Fn(&R, &'static str) -> Result<Option<chrono::DateTime<chrono::Utc>>>,
) -> Result<KeyRecord>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    let usage = stored_json(row.try_get::<&str, _>("usage")?);
    Ok(KeyRecord {
        id: row.try_get("id")?,
        group_id: row.try_get("group_id")?,
        user_id: row.try_get("user_id")?,
        ai_model_id: row.try_get("ai_model_id")?,
        external_api_id: row.try_get("external_api_id")?,
        encrypted_api_key: row.try_get("encrypted_api_key")?,
        encrypted_aes_key: row.try_get("encrypted_aes_key")?,
        configuration: serde_json::from_str(row.try_get::<&str, _>("configuration")?)
            .unwrap_or_default(),
        usage: crate::budget::effective_usage(&usage, period),
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
        last_used_at: timestamp(row, "last_used_at")?,
        is_active: row.try_get("is_active")?,
    })
}

/// A row of a wrapped-keys query (columns `id`, `group_id`, `encrypted_api_key`,
/// `encrypted_aes_key`),
/// read the same way on both backends.
pub(crate) fn wrapped_key<R: sqlx::Row>(row: &R) -> Result<WrappedKey>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    Ok(WrappedKey {
        id: row.try_get("id")?,
        group_id: row.try_get("group_id")?,
        encrypted_api_key: row.try_get("encrypted_api_key")?,
        encrypted_aes_key: row.try_get("encrypted_aes_key")?,
    })
}

/// `AND …` conditions for a filter, with numbered placeholders (`$n` for PostgreSQL or `?n`
/// for SQLite) starting at `next`, and the values to bind in order.
///
/// SQLite: the model and API columns are written `+ai_model_id` / `+external_api_id`, which
/// keeps SQLite's planner off their indexes, so a group's keys are always found through the
/// `group_id` index. Without statistics (the package never runs ANALYZE on a user's file)
/// SQLite otherwise picks the `ai_model_id` index, and as many keys share a model, every call
/// then reads all of them inside its write transaction (measured: 5.7 ms instead of 0.9 ms
/// p50 with 5,000 keys; docs/benchmarks.md). PostgreSQL plans from statistics and needs no hint.
pub(crate) fn filter_sql(filter: &KeyFilter, prefix: char, mut next: usize) -> (String, Vec<i64>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    let hint = if prefix == '?' { "+" } else { "" };
    for (col, f) in [
        ("ai_model_id", filter.ai_model_id),
        ("external_api_id", filter.external_api_id),
    ] {
        let col = format!("{hint}{col}");
        match f {
            IdFilter::Any => {}
            IdFilter::Null => sql.push_str(&format!(" AND {col} IS NULL")),
            IdFilter::Eq(v) => {
                sql.push_str(&format!(" AND {col} = {prefix}{next}"));
                binds.push(v);
                next += 1;
            }
        }
    }
    match filter.is_active {
        ActiveFilter::Any => {}
        ActiveFilter::Null => sql.push_str(" AND is_active IS NULL"),
        ActiveFilter::Is(true) => sql.push_str(" AND is_active IS NOT FALSE"),
        ActiveFilter::Is(false) => sql.push_str(" AND is_active = FALSE"),
    }
    (sql, binds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_clause_tri_state() {
        let f = KeyFilter {
            ai_model_id: IdFilter::Eq(3),
            external_api_id: IdFilter::Null,
            is_active: ActiveFilter::Is(true),
        };
        let (sql, binds) = filter_sql(&f, '$', 2);
        assert_eq!(
            sql,
            " AND ai_model_id = $2 AND external_api_id IS NULL AND is_active IS NOT FALSE"
        );
        assert_eq!(binds, vec![3]);
        let (sql, binds) = filter_sql(&KeyFilter::default(), '?', 2);
        assert_eq!((sql.as_str(), binds.len()), ("", 0));
        let (sql, _) = filter_sql(&f, '?', 2);
        assert_eq!(
            sql,
            " AND +ai_model_id = ?2 AND +external_api_id IS NULL AND is_active IS NOT FALSE"
        );
    }

    /// Two calls see the pool's one free place; the one that loses waits on the pool itself.
    /// A connection finishing its statement then must go back to the pool, where that call
    /// gets it, not stay kept while the call runs into its acquire timeout (a SQLite call of
    /// the concurrency spec failed so after 30 s under CI's load).
    #[tokio::test]
    async fn a_call_waiting_on_the_pool_gets_the_next_finished_connection() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect_lazy("sqlite::memory:")
            .expect("an in-memory SQLite URL");
        let warm = Warm::<sqlx::Sqlite>::default();
        let (lost_race, raced) = tokio::sync::oneshot::channel::<()>();
        // The loser looks while the pool has room, then meets a pool the winner has filled.
        let loser = warm.acquire(&pool, async {
            let _ = raced.await;
            pool.acquire().await
        });
        tokio::pin!(loser);
        tokio::select! {
            biased;
            _ = &mut loser => panic!("the loser must not have a connection yet"),
            _ = std::future::ready(()) => {}
        }
        let winner = warm
            .acquire(&pool, pool.acquire())
            .await
            .expect("the pool's one connection");
        lost_race.send(()).expect("the loser is waiting");
        warm.keep(winner);
        // Without the hand-back this is PoolTimedOut after the 3 s acquire timeout.
        let conn = loser
            .await
            .expect("the connection the winner finished with");
        assert_eq!(warm.lock().acquiring, 0);
        // With nobody waiting, a finished connection is kept warm again.
        warm.keep(conn);
        assert_eq!(warm.lock().kept.len(), 1);
    }
}

//! Running one PostgreSQL statement: a connection from the pool (kept warm between
//! statements), a direct probe of the server when the pool is slow to answer, and bounded
//! retries of a statement whose failure proves it did not commit.

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnection, PgRow};
use sqlx::{Connection, Postgres};

use super::PgStore;
use crate::error::{Error, Result};

pub(super) type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// Whether a statement writes: a write whose connection broke after it was sent may have
/// committed, so it is never resent; a read is.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Kind {
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

/// What a failed statement tells about its outcome (see docs/failures-and-retries.md).
enum Failure {
    /// The server reported an error that aborts the statement's transaction: nothing was
    /// committed, and the same statement may run again (serialization failure, deadlock,
    /// administrator or crash shutdown of the backend before the commit).
    Retry,
    /// The connection broke while the statement was in flight: it may or may not have committed.
    InFlight,
    /// The server cannot take writes now (read-only: a demoted primary or a standby; or
    /// starting up, shutting down): the statement did not run; another listed server may
    /// take it (see `servers.rs`).
    ReadOnly,
    /// A pooler in between could not get a server for the statement's transaction: nothing
    /// ran; sent again within the grace of an unreachable server, then `PSPAS_DB_UNAVAILABLE`.
    NotRun,
    /// Anything else: reported as is.
    Other,
}

/// PgBouncer's messages (class 08) for a transaction that never reached a server: its
/// `server_login_retry` wait, a server it cannot connect to, `query_wait_timeout`.
const POOLER_NOT_RUN: [&str; 3] = [
    "server login has been failing",
    "pgbouncer cannot connect to server",
    "query_wait_timeout",
];

fn classify(e: &sqlx::Error) -> Failure {
    if super::servers::read_only(e) {
        return Failure::ReadOnly;
    }
    match e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("40001" | "40P01" | "57P01" | "57P02") => Failure::Retry,
            // Connection exception (class 08) reported by a pooler in between. PgBouncer says
            // why in English only: a server could not be had for the transaction (login
            // failing, none reachable, waited too long), so nothing ran; any other (its
            // "server conn crashed?": the server's connection broke under the statement)
            // may have committed, as a broken connection of our own.
            Some(code) if code.starts_with("08") => {
                if POOLER_NOT_RUN.iter().any(|m| db.message().contains(m)) {
                    Failure::NotRun
                } else {
                    Failure::InFlight
                }
            }
            _ => Failure::Other,
        },
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => Failure::InFlight,
        _ => Failure::Other,
    }
}

impl PgStore {
    pub(super) fn unavailable(&self, reason: impl std::fmt::Display) -> Error {
        Error::DbUnavailable {
            target: self.target.clone(),
            reason: reason.to_string(),
        }
    }

    /// A pooled connection. An acquire that takes longer than [`PROBE_AFTER`] asks the server
    /// directly, and again every [`PROBE_AFTER`]: if it cannot be reached (refused, unknown
    /// host, authentication) the call fails now with that cause; while it answers, the pool is
    /// merely busy and the acquire keeps its timeout (`DB_POOL_ACQUIRE_MS`).
    pub(super) async fn conn(&self) -> Result<PoolConnection<Postgres>> {
        // A failover under way (the last walk of a multi-host URL found no server to use):
        // look again, with the calls asking at the same time, rather than wait on a pool
        // whose server has gone.
        if self.placement.searching() {
            self.place().await?;
        }
        let acquire = self.warm.acquire(&self.pool, self.pool.acquire());
        tokio::pin!(acquire);
        loop {
            if let Ok(r) = tokio::time::timeout(PROBE_AFTER, &mut acquire).await {
                return r.map_err(|e| self.unavailable(crate::error::describe_db(&e)));
            }
            // Asked again every PROBE_AFTER while the call waits: a server that goes away
            // meanwhile (a crash while every connection is busy) is noticed, not waited for
            // until the acquire timeout.
            if let Err(reason) = self.probe().await {
                return Err(self.unavailable(reason));
            }
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
        let outcome = match tokio::time::timeout(
            PROBE_TIMEOUT,
            PgConnection::connect_with(&self.tuned(self.placement.current().clone())),
        )
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
    pub(super) async fn rows<'q>(
        &self,
        kind: Kind,
        make: impl Fn() -> PgQuery<'q>,
    ) -> Result<Vec<PgRow>> {
        let pooler = self.pooler;
        self.run(kind, |mut conn| {
            let q = make();
            async move {
                let result = if pooler {
                    // The unnamed statement spans two protocol syncs (Parse/Describe, then
                    // Bind/Execute); an explicit transaction keeps both on one server
                    // connection.
                    async {
                        let mut tx = conn.begin().await?;
                        let rows = q.persistent(false).fetch_all(&mut *tx).await?;
                        tx.commit().await?;
                        Ok::<_, sqlx::Error>(rows)
                    }
                    .await
                } else {
                    q.fetch_all(&mut *conn).await
                };
                (conn, result)
            }
        })
        .await
    }

    /// Run `attempt` (one statement, or one transaction of several) on a pooled connection
    /// it hands back with its result, with the retry rules of [`PgStore::rows`]: attempts are
    /// repeated only when the failure proves nothing was committed.
    pub(super) async fn run<T, F, Fut>(&self, kind: Kind, mut attempt_once: F) -> Result<T>
    where
        F: FnMut(PoolConnection<Postgres>) -> Fut,
        Fut: std::future::Future<
            Output = (
                PoolConnection<Postgres>,
                std::result::Result<T, sqlx::Error>,
            ),
        >,
    {
        let mut attempt = 0;
        // Set once the statement itself failed in a way that proves it did not commit.
        let mut rerun = false;
        let started = std::time::Instant::now();
        // Moves of the pool so far: a connection that finishes after a move may point at the
        // old server, and is closed rather than kept warm.
        let moves = self.placement.moves();
        loop {
            let conn = match self.conn().await {
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
                    // Several servers listed: perhaps another one takes over.
                    let _ = self.place().await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (mut conn, result) = attempt_once(conn).await;
            let e = match result {
                Ok(out) => {
                    if self.placement.moves() == moves {
                        self.warm.keep(conn);
                    } else {
                        conn.close_on_drop();
                    }
                    return Ok(out);
                }
                Err(e) => e,
            };
            let failure = classify(&e);
            if !matches!(failure, Failure::Other) {
                conn.close_on_drop();
            }
            if matches!(failure, Failure::ReadOnly) {
                self.placement.refused();
            }
            drop(conn);
            attempt += 1;
            rerun = true;
            match failure {
                Failure::Retry if attempt < ATTEMPTS => {}
                // Not run: look for the writable server again (the pool's connections to this
                // one are replaced if another is found) and send the statement there.
                Failure::ReadOnly if attempt < ATTEMPTS => {
                    let _ = self.place().await;
                }
                Failure::ReadOnly => {
                    return Err(self.unavailable(format!(
                        "the server refuses writes ({})",
                        crate::error::describe_db(&e)
                    )));
                }
                Failure::NotRun if attempt < ATTEMPTS || started.elapsed() < UNAVAILABLE_GRACE => {}
                Failure::NotRun => return Err(self.unavailable(crate::error::describe_db(&e))),
                Failure::InFlight if kind == Kind::Read && attempt < ATTEMPTS => {}
                Failure::InFlight => {
                    return Err(Error::DbOutcomeUnknown(crate::error::describe_db(&e)))
                }
                _ => return Err(Error::from(e)),
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
}

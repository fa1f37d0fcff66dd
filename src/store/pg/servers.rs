//! Which of the set-up's servers the pool connects to, for a multi-host URL (see
//! `crate::pg_url`): the hosts are tried in the URL's order and the first whose session has
//! the asked-for attributes (`read-write` by default with several hosts) takes the pool's new
//! connections. This is looked for when the store opens, and again when a server cannot be
//! reached or refuses a write because it is read-only (a demoted primary, a standby): then
//! the pool's idle connections are closed at once, those made before the move are closed if
//! they are acquired still, and those busy at the move are closed when their statement ends,
//! so no pooled connection keeps pointing at the old server.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Row};

use super::PgStore;
use crate::error::Result;
use crate::pg_url::{PgServers, SessionAttrs};

/// How long one server may take to accept a connection and answer while the list is walked.
const TRY_TIMEOUT: Duration = Duration::from_secs(1);
/// Calls that ask within this long of a walk share its outcome (a failover must not turn
/// into a storm of walks).
const WALK_SHARED_FOR: Duration = Duration::from_millis(200);

/// The servers, the one in use, and when the pool last moved.
pub(super) struct Placement {
    pub(super) servers: PgServers,
    current: AtomicUsize,
    /// Milliseconds from `epoch` to the last move (0: never moved).
    moved: Arc<Moved>,
    /// The last walk: when, and its outcome.
    last: tokio::sync::Mutex<Option<(Instant, std::result::Result<(), String>)>>,
    /// Statements a read-only server refused (each sent again), and moves to another server.
    refusals: AtomicU64,
    moves: AtomicU64,
    /// The last walk found no server to use (a failover under way): calls look again rather
    /// than wait on the pool.
    searching: AtomicBool,
}

/// When the pool last moved to another server: read by the pool's `before_acquire` hook.
pub(super) struct Moved {
    epoch: Instant,
    at_ms: AtomicU64,
}

impl Moved {
    /// Was a connection of this age opened before the last move?
    pub(super) fn predates(&self, age: Duration) -> bool {
        let at = self.at_ms.load(Ordering::Acquire);
        if at == 0 {
            return false;
        }
        let opened = self.epoch.elapsed().saturating_sub(age);
        opened < Duration::from_millis(at)
    }
}

impl Placement {
    pub(super) fn new(servers: PgServers) -> Placement {
        Placement {
            servers,
            current: AtomicUsize::new(0),
            moved: Arc::new(Moved {
                epoch: Instant::now(),
                at_ms: AtomicU64::new(0),
            }),
            last: tokio::sync::Mutex::new(None),
            refusals: AtomicU64::new(0),
            moves: AtomicU64::new(0),
            searching: AtomicBool::new(false),
        }
    }

    /// Did the last walk find no server to use?
    pub(super) fn searching(&self) -> bool {
        self.searching.load(Ordering::Acquire)
    }

    /// A statement was refused because its server is read-only.
    pub(super) fn refused(&self) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// Moves to another listed server so far (a connection opened before the last one may
    /// point at the old server).
    pub(super) fn moves(&self) -> u64 {
        self.moves.load(Ordering::Acquire)
    }

    /// (statements refused by a read-only server, moves to another listed server) so far.
    pub(super) fn counts(&self) -> (u64, u64) {
        (self.refusals.load(Ordering::Relaxed), self.moves())
    }

    pub(super) fn moved(&self) -> Arc<Moved> {
        self.moved.clone()
    }

    /// The options of the server in use.
    pub(super) fn current(&self) -> &PgConnectOptions {
        let i = self.current.load(Ordering::Acquire);
        self.servers.hosts.get(i).unwrap_or(&self.servers.hosts[0])
    }
}

/// `host:port` of a server, for messages (no user, no password).
fn named(o: &PgConnectOptions) -> String {
    format!("{}:{}", o.get_host(), o.get_port())
}

/// Connect to one server and read what its sessions are: (read-only, in recovery).
async fn inspect(o: &PgConnectOptions) -> std::result::Result<(bool, bool), String> {
    let probe = async {
        let mut conn = PgConnection::connect_with(o).await?;
        let row = sqlx::query(
            "SELECT current_setting('transaction_read_only') = 'on' AS read_only, \
             pg_is_in_recovery() AS in_recovery",
        )
        .persistent(false)
        .fetch_one(&mut conn)
        .await?;
        let seen = (row.try_get("read_only")?, row.try_get("in_recovery")?);
        let _ = conn.close().await;
        Ok::<_, sqlx::Error>(seen)
    };
    match tokio::time::timeout(TRY_TIMEOUT, probe).await {
        Ok(Ok(seen)) => Ok(seen),
        Ok(Err(e)) => Err(crate::error::describe_db(&e)),
        Err(_) => Err(format!("no answer within {} ms", TRY_TIMEOUT.as_millis())),
    }
}

impl PgStore {
    /// Walk the servers in order and point the pool at the first that fits (see the module
    /// doc); `PSPAS_DB_UNAVAILABLE` naming each server's reason when none does. Nothing to do
    /// for a single server with no attributes to check.
    pub(super) async fn place(&self) -> Result<()> {
        let placement = &self.placement;
        if !placement.servers.needs_placing() {
            return Ok(());
        }
        let mut last = placement.last.lock().await;
        if let Some((at, outcome)) = last.as_ref() {
            if at.elapsed() < WALK_SHARED_FOR {
                return outcome.clone().map_err(|reason| self.unavailable(reason));
            }
        }
        let outcome = self.walk(placement).await;
        placement
            .searching
            .store(outcome.is_err(), Ordering::Release);
        *last = Some((Instant::now(), outcome.clone()));
        outcome.map_err(|reason| self.unavailable(reason))
    }

    async fn walk(&self, placement: &Placement) -> std::result::Result<(), String> {
        let attrs = placement.servers.attrs;
        let mut seen = Vec::new();
        let mut reasons = Vec::new();
        for o in &placement.servers.hosts {
            match inspect(o).await {
                Ok((read_only, in_recovery)) => {
                    if attrs.accepts(read_only, in_recovery) {
                        self.move_to(placement, o);
                        return Ok(());
                    }
                    seen.push(o);
                    reasons.push(format!(
                        "{}: {}",
                        named(o),
                        if in_recovery {
                            "a standby (in recovery)"
                        } else if read_only {
                            "read-only sessions"
                        } else {
                            "a primary"
                        }
                    ));
                }
                Err(reason) => reasons.push(format!("{}: {reason}", named(o))),
            }
        }
        // prefer-standby: no standby answered, so any server that did.
        if attrs == SessionAttrs::PreferStandby {
            if let Some(o) = seen.first() {
                self.move_to(placement, o);
                return Ok(());
            }
        }
        let wanted = SessionAttrs::NAMES
            .iter()
            .find(|(_, a)| *a == attrs)
            .map(|(n, _)| *n)
            .unwrap_or("any");
        Err(format!(
            "no listed server has target_session_attrs={wanted} ({})",
            reasons.join("; ")
        ))
    }

    /// Point the pool's new connections at `o`; connections opened before are closed as they
    /// are next acquired, the warm ones handed back to the pool for that.
    fn move_to(&self, placement: &Placement, o: &PgConnectOptions) {
        let Some(i) = placement
            .servers
            .hosts
            .iter()
            .position(|h| std::ptr::eq(h, o))
        else {
            return;
        };
        if placement.current.swap(i, Ordering::AcqRel) == i {
            return;
        }
        placement.moves.fetch_add(1, Ordering::Release);
        self.pool.set_connect_options(self.tuned(o.clone()));
        let ms = placement.moved.epoch.elapsed().as_millis().max(1);
        placement
            .moved
            .at_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Release);
        self.warm.release_all();
        // The idle connections all point at the old server now: close them at once rather
        // than when they are next acquired (a pool whose calls run on warm connections may
        // not acquire them for minutes, each holding a session on the old server).
        let pool = self.pool.clone();
        tokio::spawn(async move {
            for _ in 0..pool.num_idle() {
                match pool.try_acquire() {
                    Some(conn) => {
                        let _ = conn.close().await;
                    }
                    None => break,
                }
            }
        });
    }
}

/// Whether a failure means "this server cannot take writes now" (SQLSTATE 25006, read-only
/// transaction; 57P03, cannot connect now: starting up or shutting down): the statement did
/// not run, and another server of the list may.
pub(super) fn read_only(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("25006" | "57P03"))
    )
}

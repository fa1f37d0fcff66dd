//! The SQLite limit of `npm run bench`: the plain single-statement increment
//! (benches/plain-increment-sqlite.sql) in a bare Rust loop, with no Node↔Rust hop, no budget
//! and no decryption. It opens the file exactly as the package does (src/store/sqlite.rs):
//! WAL, sqlx's default `synchronous` (not set, so SQLite's compiled default, FULL), a busy
//! timeout equal to the pool's acquire timeout, a sqlx pool of `--pool` connections (held for
//! the run and shared by the in-flight calls, without the pool's per-acquire tests), and a
//! tokio runtime of one worker (the package's default, PSPAS_WORKER_THREADS).
//!
//! ```text
//! cargo run --release --example sqlite_limit -- --db bench.sqlite --group 3 --model 1 \
//!     --inflight 32 --seconds 4 [--pool 10] [--pool-min 10] [--busy-ms 30000] [--workers 1] \
//!     [--warmup 20] [--amount 1] [--synchronous off|normal|full|extra] [--vacuum] [--vacuum-only]
//!     [--analyze]
//! ```
//!
//! Closed loop: `--inflight` tasks each call, wait, call again until `--seconds` pass. Prints one
//! JSON line: {calls, seconds, cps, p50, p99 (ms), errors, pool, inflight, synchronous,
//! journal_mode, busy_timeout_ms}.
//! `--vacuum` first runs VACUUM and a WAL checkpoint(TRUNCATE) on one connection (the bench's
//! "vacuum between runs"); `--vacuum-only` does only that and prints the settings read back.
//! `--analyze` adds ANALYZE to it (a diagnostic: the package itself never runs ANALYZE, and
//! without statistics SQLite may pick the ai_model_id index over group_id).

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row};

const PLAIN_SQL: &str = include_str!("../benches/plain-increment-sqlite.sql");

struct Args {
    db: String,
    group: i64,
    model: i64,
    inflight: usize,
    seconds: f64,
    pool: u32,
    pool_min: u32,
    busy_ms: u64,
    workers: usize,
    warmup: usize,
    amount: f64,
    synchronous: Option<SqliteSynchronous>,
    vacuum: bool,
    vacuum_only: bool,
    analyze: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!("sqlite_limit: {msg}");
    eprintln!(
        "usage: sqlite_limit --db PATH --group G --model M --inflight N --seconds S [--pool 10] \
         [--pool-min 10] [--busy-ms 30000] [--workers 1] [--warmup 20] [--amount 1] \
         [--synchronous off|normal|full|extra] [--vacuum] [--vacuum-only] [--analyze]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        db: String::new(),
        group: 1,
        model: 1,
        inflight: 1,
        seconds: 2.0,
        pool: 10,
        pool_min: 10,
        busy_ms: 30_000,
        workers: 1,
        warmup: 20,
        amount: 1.0,
        synchronous: None,
        vacuum: false,
        vacuum_only: false,
        analyze: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--vacuum" {
            a.vacuum = true;
            continue;
        }
        if flag == "--vacuum-only" {
            a.vacuum_only = true;
            continue;
        }
        if flag == "--analyze" {
            a.analyze = true;
            continue;
        }
        let Some(v) = it.next() else {
            usage(&format!("{flag} needs a value"))
        };
        fn num<T: FromStr>(flag: &str, v: &str) -> T {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{flag}: not a number: {v}")))
        }
        match flag.as_str() {
            "--db" => a.db = v,
            "--group" => a.group = num(&flag, &v),
            "--model" => a.model = num(&flag, &v),
            "--inflight" => a.inflight = num::<usize>(&flag, &v).max(1),
            "--seconds" => a.seconds = num(&flag, &v),
            "--pool" => a.pool = num::<u32>(&flag, &v).max(1),
            "--pool-min" => a.pool_min = num(&flag, &v),
            "--busy-ms" => a.busy_ms = num(&flag, &v),
            "--workers" => a.workers = num::<usize>(&flag, &v).max(1),
            "--warmup" => a.warmup = num(&flag, &v),
            "--amount" => a.amount = num(&flag, &v),
            "--synchronous" => {
                a.synchronous = Some(
                    SqliteSynchronous::from_str(&v)
                        .unwrap_or_else(|_| usage(&format!("--synchronous: unknown value {v}"))),
                )
            }
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    if a.db.is_empty() {
        usage("--db is required")
    }
    a.pool_min = a.pool_min.min(a.pool);
    a
}

/// The package's connect options (src/store/sqlite.rs, `SqliteStore::connect`).
fn options(a: &Args) -> SqliteConnectOptions {
    let opts = SqliteConnectOptions::new()
        .filename(&a.db)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_millis(a.busy_ms));
    match a.synchronous {
        Some(s) => opts.synchronous(s),
        None => opts, // the package sets none: sqlx leaves SQLite's default
    }
}

/// The settings in effect on a connection: synchronous, journal_mode, busy_timeout (ms).
async fn settings(c: &mut sqlx::SqliteConnection) -> Result<serde_json::Value, sqlx::Error> {
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *c)
        .await?;
    let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *c)
        .await?;
    let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *c)
        .await?;
    let name = ["OFF", "NORMAL", "FULL", "EXTRA"]
        .get(synchronous as usize)
        .copied()
        .unwrap_or("?");
    Ok(serde_json::json!({
        "synchronous": name,
        "journal_mode": journal_mode,
        "busy_timeout_ms": busy_timeout,
    }))
}

async fn vacuum(a: &Args) -> Result<serde_json::Value, sqlx::Error> {
    let mut c = sqlx::SqliteConnection::connect_with(&options(a)).await?;
    sqlx::query("VACUUM").execute(&mut c).await?;
    if a.analyze {
        sqlx::query("ANALYZE").execute(&mut c).await?;
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut c)
        .await?;
    let s = settings(&mut c).await;
    c.close().await?;
    s
}

async fn call(conn: &mut sqlx::SqliteConnection, a: &Args) -> Result<(), sqlx::Error> {
    let row = sqlx::query(PLAIN_SQL)
        .bind(a.group)
        .bind(a.amount)
        .bind(a.model)
        .fetch_optional(conn)
        .await?;
    match row {
        // Read the sealed key, as the package does before decrypting.
        Some(r) => {
            let _: (&str, &str) = (r.try_get(0)?, r.try_get(1)?);
            Ok(())
        }
        None => Err(sqlx::Error::RowNotFound),
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((p / 100.0) * sorted.len() as f64)
        .floor()
        .min((sorted.len() - 1) as f64) as usize]
}

async fn run(a: Arc<Args>) -> Result<serde_json::Value, sqlx::Error> {
    if a.vacuum || a.vacuum_only {
        let s = vacuum(&a).await?;
        if a.vacuum_only {
            return Ok(s);
        }
    }
    // The package's pool (src/store/sqlite.rs; idle timeout DB_POOL_IDLE_MS's default).
    let pool = SqlitePoolOptions::new()
        .max_connections(a.pool)
        .min_connections(a.pool_min)
        .acquire_timeout(Duration::from_millis(a.busy_ms))
        .idle_timeout(Duration::from_millis(10_000))
        .connect_with(options(&a))
        .await?;
    // The pool's connections, held for the whole run and shared by the in-flight calls: sqlx's
    // pool tests a connection on every acquire and release (a hop to its worker thread), which
    // the package does not pay on a busy connection (src/store/mod.rs, `Warm`), so neither
    // does the limit.
    let mut held = Vec::new();
    for _ in 0..a.pool {
        held.push(pool.acquire().await?);
    }
    let settings = settings(&mut held[0]).await?;
    for _ in 0..a.warmup {
        call(&mut held[0], &a).await?;
    }
    let held = Arc::new(std::sync::Mutex::new(held));
    let free = Arc::new(tokio::sync::Semaphore::new(a.pool as usize));
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.seconds);
    let tasks: Vec<_> = (0..a.inflight)
        .map(|_| {
            let (held, free, a) = (held.clone(), free.clone(), a.clone());
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0u64);
                while Instant::now() < end {
                    let t = Instant::now();
                    let _permit = free.acquire().await.expect("never closed");
                    let mut conn = held
                        .lock()
                        .expect("not poisoned")
                        .pop()
                        .expect("a permit means a connection");
                    let outcome = call(&mut conn, &a).await;
                    held.lock().expect("not poisoned").push(conn);
                    if let Err(e) = outcome {
                        if errors == 0 {
                            eprintln!("sqlite_limit: {e}");
                        }
                        errors += 1;
                    }
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut lat, mut errors) = (Vec::new(), 0u64);
    for t in tasks {
        let (l, e) = t.await.expect("a loop task panicked");
        lat.extend(l);
        errors += e;
    }
    held.lock().expect("not poisoned").clear();
    pool.close().await;
    lat.sort_by(f64::total_cmp);
    let mut out = serde_json::json!({
        "calls": lat.len(),
        "seconds": a.seconds,
        "cps": lat.len() as f64 / a.seconds,
        "p50": pct(&lat, 50.0),
        "p99": pct(&lat, 99.0),
        "errors": errors,
        "pool": a.pool,
        "inflight": a.inflight,
    });
    if let (Some(o), serde_json::Value::Object(s)) = (out.as_object_mut(), settings) {
        o.extend(s);
    }
    Ok(out)
}

fn main() {
    let a = Arc::new(parse_args());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(a)) {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("sqlite_limit: {e}");
            std::process::exit(1)
        }
    }
}

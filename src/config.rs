//! Where the database comes from and how pools, budgets and the data-key cache are set up,
//! from the settings in [`crate::settings`] (explicit `configure()` values first, then the
//! same environment variables PolicySynth reads, then the defaults). The RSA keys are read by
//! the JS entry from the caller's `process.env` at call time and passed in with each call.
//!
//! Database, in order:
//! 1. `databaseUrl` / `DATABASE_URL` (`postgres://`, `postgresql://` or `sqlite:`), in every
//!    `NODE_ENV`. With `NODE_ENV=production`, PostgreSQL uses TLS without verifying the
//!    certificate (`sslmode=require`) unless `DISABLE_PG_SSL` is set or the URL names an
//!    `sslmode`; in any other `NODE_ENV`, TLS is off unless the URL names an `sslmode`, as with
//!    PolicySynth's Sequelize connection (node-postgres never negotiates TLS on its own, where
//!    libpq's and sqlx's default `prefer` would);
//! 2. `NODE_ENV=production` without a URL is an error (never a silent local file);
//! 3. `PSQL_DB_NAME` / `YP_DEV_DATABASE_NAME` set: PostgreSQL from the `DB_*` settings, TLS off;
//! 4. otherwise the embedded default: SQLite at `sqlitePath` / `PSPAS_SQLITE_PATH`.

use std::path::PathBuf;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::error::{Error, Result};
use crate::pg_url::{self, PgServers, SessionAttrs};
use crate::settings::{self as s, Env, Resolver, Settings};

/// Data-key cache settings.
pub fn key_cache_settings(
    settings: &Settings,
    env: &dyn Env,
) -> Result<crate::keycache::KeyCacheSettings> {
    let r = Resolver::new(settings, env);
    Ok(crate::keycache::KeyCacheSettings {
        enabled: r.switch(&s::KEY_CACHE)?,
        max_entries: r.number(&s::KEY_CACHE_MAX_ENTRIES)?,
        max_age: Duration::from_millis(r.number(&s::KEY_CACHE_MAX_AGE_MS)?),
    })
}

/// Whether keys are bound to their group (see [`s::GROUP_BINDING`] and
/// [`crate::envelope`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBinding {
    /// Keys are stored as given (the original's format).
    #[default]
    Off,
    /// Keys added are bound to their group when the private key is at hand.
    On,
    /// As `On`, and unbound keys are refused.
    Required,
}

impl GroupBinding {
    /// Whether keys added are bound.
    pub fn binds(self) -> bool {
        self != GroupBinding::Off
    }
}

/// The group-binding mode (`off`, `on` or `required`).
pub fn group_binding(settings: &Settings, env: &dyn Env) -> Result<GroupBinding> {
    let r = Resolver::new(settings, env);
    let found = r.found_text(&s::GROUP_BINDING);
    let word = found
        .as_ref()
        .map(|f| f.value.expose().trim().to_ascii_lowercase())
        .unwrap_or_default();
    match word.as_str() {
        "" | "off" => Ok(GroupBinding::Off),
        "on" => Ok(GroupBinding::On),
        "required" => Ok(GroupBinding::Required),
        _ => Err(Error::Config(format!(
            "{} must be off, on or required",
            found.map_or("groupBinding", |f| f.from)
        ))),
    }
}

/// The longest pool timeout honoured, in ms (see [`PoolSettings::acquire_timeout`]).
pub const MAX_TIMEOUT_MS: u64 = i32::MAX as u64;

/// The longest request-id retention honoured (see [`BudgetSettings::request_retention`]).
pub const MAX_RETENTION_MS: u64 = 1_000 * 365 * 24 * 3_600_000;

/// How budgets are judged.
#[derive(Debug, Clone)]
pub struct BudgetSettings {
    pub timezone: chrono_tz::Tz,
    pub enforce: bool,
    /// How long a request id is remembered (see [`s::REQUEST_RETENTION_MS`]).
    pub request_retention: Duration,
    /// How long a reservation holds without a `ttlMs` (see [`s::RESERVATION_TTL_MS`]).
    pub reservation_ttl: Duration,
    /// How long acked budget events are kept (see [`s::EVENT_RETENTION_MS`]).
    pub event_retention: Duration,
    /// Claims of a budget event without an ack before it is parked (see
    /// [`s::EVENT_MAX_ATTEMPTS`]).
    pub event_max_attempts: i64,
}

/// Budget settings: the timezone of the periods and whether budgets are enforced.
pub fn budget_settings(settings: &Settings, env: &dyn Env) -> Result<BudgetSettings> {
    let r = Resolver::new(settings, env);
    Ok(BudgetSettings {
        enforce: r.switch(&s::ENFORCE_BUDGETS)?,
        timezone: r.timezone()?,
        // At most 1,000 years: now minus the window must stay a timestamp PostgreSQL holds
        // (from 4713 BC), so a huge value means "remember for ever", not an error per call.
        request_retention: Duration::from_millis(
            r.number::<u64>(&s::REQUEST_RETENTION_MS)?
                .min(MAX_RETENTION_MS),
        ),
        reservation_ttl: {
            let ms = r.number::<u64>(&s::RESERVATION_TTL_MS)?;
            crate::model::ttl_ms(ms as f64).map_err(|_| {
                Error::Config(format!(
                    "{} must be a whole number of milliseconds from 1 to 2592000000 (30 days)",
                    r.found_text(&s::RESERVATION_TTL_MS)
                        .map_or("reservationTtlMs", |f| f.from)
                ))
            })?
        },
        // As the request retention: at most 1,000 years.
        event_retention: Duration::from_millis(
            r.number::<u64>(&s::EVENT_RETENTION_MS)?
                .min(MAX_RETENTION_MS),
        ),
        event_max_attempts: {
            let n = r.number::<u64>(&s::EVENT_MAX_ATTEMPTS)?;
            if !(1..=crate::outbox::MAX_ATTEMPTS as u64).contains(&n) {
                return Err(Error::Config(format!(
                    "{} must be a whole number from 1 to {}",
                    r.found_text(&s::EVENT_MAX_ATTEMPTS)
                        .map_or("eventMaxAttempts", |f| f.from),
                    crate::outbox::MAX_ATTEMPTS
                )));
            }
            n as i64
        },
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    pub max: u32,
    pub min: u32,
    pub acquire_timeout: Duration,
    pub idle_timeout: Duration,
    /// Behind a transaction-mode pooler (see [`s::PGBOUNCER`]).
    pub pooler: bool,
    /// Coalesce concurrent calls on one key (see [`s::COALESCE`]).
    pub coalesce: bool,
    /// Send lean calls on different keys together (see [`s::CROSS_KEY_BATCHING`]).
    pub cross_key_batching: bool,
    /// Cross-key statements in flight before calls wait for a batch (see
    /// [`s::CROSS_KEY_STATEMENTS`]), 1 to `max`.
    pub cross_key_statements: u32,
}

/// Prisma's convention: `pgbouncer=true` in the URL's query string.
fn url_asks_for_pooler(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|kv| matches!(kv, "pgbouncer=true" | "pgbouncer=1"))
    })
}

/// The URL without a `pgbouncer=…` parameter (the driver does not know it); zeroized when
/// dropped, as it may hold a password.
fn without_pooler_param(url: &str) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(match url.split_once('?') {
        None => url.to_owned(),
        Some((base, q)) => {
            let rest: Vec<&str> = q
                .split('&')
                .filter(|kv| !kv.starts_with("pgbouncer="))
                .collect();
            if rest.is_empty() {
                base.to_owned()
            } else {
                format!("{base}?{}", rest.join("&"))
            }
        }
    })
}

pub enum DbTarget {
    Postgres(Box<PgServers>),
    Sqlite(PathBuf),
}

impl DbTarget {
    /// `host:port/database` or the file path: safe to show, no password.
    pub fn describe(&self) -> String {
        match self {
            DbTarget::Postgres(o) => o.describe(),
            DbTarget::Sqlite(p) => format!("sqlite:{}", p.display()),
        }
    }
}

pub fn pool_settings(settings: &Settings, env: &dyn Env) -> Result<PoolSettings> {
    let r = Resolver::new(settings, env);
    let url = r.found_text(&s::DATABASE_URL);
    let pooler =
        url.is_some_and(|u| url_asks_for_pooler(u.value.expose())) || r.switch(&s::PGBOUNCER)?;
    let max = r.number::<u32>(&s::POOL_MAX)?.max(1);
    let min = r.number::<u32>(&s::POOL_MIN)?.min(max);
    Ok(PoolSettings {
        max,
        min,
        // Clamped to 2^31 - 1 ms (24.8 days), the longest wait the drivers take: SQLite's busy
        // timeout is a C int of milliseconds (sqlx's worker panicked on more).
        acquire_timeout: Duration::from_millis(
            r.number::<u64>(&s::ACQUIRE_TIMEOUT_MS)?.min(MAX_TIMEOUT_MS),
        ),
        idle_timeout: Duration::from_millis(
            r.number::<u64>(&s::IDLE_TIMEOUT_MS)?.min(MAX_TIMEOUT_MS),
        ),
        pooler,
        coalesce: r.switch(&s::COALESCE)?,
        cross_key_batching: r.switch(&s::CROSS_KEY_BATCHING)?,
        cross_key_statements: r.number::<u32>(&s::CROSS_KEY_STATEMENTS)?.clamp(1, max),
    })
}

/// `name` is where the URL came from (`databaseUrl` or `DATABASE_URL`), for the messages; the
/// URL itself (it may hold a password) is never repeated.
fn from_url(url: &str, name: &str, r: &Resolver) -> Result<DbTarget> {
    let production = r.text(&s::NODE_ENV).as_deref() == Some("production");
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() {
            return Err(Error::Config(format!(
                "{name}: a sqlite: URL needs a file path"
            )));
        }
        return Ok(DbTarget::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let parsed = pg_url::parse(&without_pooler_param(url), name)?;
        let tls = if production && r.text(&s::DISABLE_PG_SSL).is_none() {
            PgSslMode::Require
        } else {
            PgSslMode::Disable
        };
        let names_sslmode = url.contains("sslmode=");
        let hosts = parsed
            .hosts
            .into_iter()
            .map(|o| if names_sslmode { o } else { o.ssl_mode(tls) })
            .collect::<Vec<_>>();
        // Several servers: this package writes, so it looks for a writable one unless the URL
        // says otherwise (libpq's own default, `any`, would let it settle on a standby).
        let attrs = parsed.attrs.unwrap_or(if hosts.len() > 1 {
            SessionAttrs::ReadWrite
        } else {
            SessionAttrs::Any
        });
        return Ok(DbTarget::Postgres(Box::new(PgServers { hosts, attrs })));
    }
    Err(Error::Config(format!(
        "{name} must start with postgres://, postgresql:// or sqlite:"
    )))
}

/// Decide which database to use.
pub fn database_target(settings: &Settings, env: &dyn Env) -> Result<DbTarget> {
    let r = Resolver::new(settings, env);
    if let Some(url) = r.found_text(&s::DATABASE_URL) {
        return from_url(url.value.expose(), url.from, &r);
    }
    if r.text(&s::NODE_ENV).as_deref() == Some("production") {
        return Err(Error::Config(
            "NODE_ENV is production but DATABASE_URL is not set".into(),
        ));
    }
    if let Some(db) = r.text(&s::DB_NAME) {
        let port = r
            .number::<u16>(&s::DB_PORT)
            .map_err(|_| Error::Config("DB_PORT must be a port number".into()))?;
        let mut opts = PgConnectOptions::new_without_pgpass()
            .host(&r.text(&s::DB_HOST).unwrap_or_default())
            .port(port)
            .database(&db)
            .ssl_mode(PgSslMode::Disable);
        // The role as libpq and node-pg pick it: the variables, then the OS user.
        if let Some(user) = r.text(&s::DB_USER).or_else(|| env.os_user()) {
            opts = opts.username(&user);
        }
        if let Some(pass) = r.found_text(&s::DB_PASS) {
            opts = opts.password(pass.value.expose());
        }
        return Ok(DbTarget::Postgres(Box::new(opts.into())));
    }
    Ok(DbTarget::Sqlite(PathBuf::from(
        r.text(&s::SQLITE_PATH).unwrap_or_default(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::EnvMap;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, &'static str>);
    impl Env for MapEnv {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|s| s.to_string())
        }
    }
    fn env(pairs: &[(&'static str, &'static str)]) -> MapEnv {
        MapEnv(pairs.iter().copied().collect())
    }

    #[test]
    fn default_is_sqlite_in_the_working_directory() {
        let t = database_target(&Settings::default(), &env(&[])).unwrap();
        assert_eq!(t.describe(), "sqlite:ps_private_access_store.sqlite");
        let t = database_target(
            &Settings::default(),
            &env(&[("PSPAS_SQLITE_PATH", "/tmp/x.db")]),
        )
        .unwrap();
        assert_eq!(t.describe(), "sqlite:/tmp/x.db");
    }

    #[test]
    fn policysynth_dev_variables_and_fallbacks() {
        let e = env(&[
            ("YP_DEV_DATABASE_NAME", "yp"),
            ("YP_DEV_DATABASE_USERNAME", "u"),
            ("PSQL_DB_PASS", "hunter2"),
            ("DB_PORT", "6543"),
        ]);
        let t = database_target(&Settings::default(), &e).unwrap();
        assert_eq!(t.describe(), "postgres://localhost:6543/yp");
        let DbTarget::Postgres(o) = t else { panic!() };
        assert_eq!(o.get_username(), "u");
        assert!(!t_describe_contains(&o, "hunter2"));
    }
    fn t_describe_contains(o: &PgConnectOptions, s: &str) -> bool {
        DbTarget::Postgres(Box::new(o.clone().into()))
            .describe()
            .contains(s)
    }

    #[test]
    fn database_url_in_every_node_env_and_tls_in_production() {
        let t = database_target(
            &Settings::default(),
            &env(&[("DATABASE_URL", "postgres://a:secret@db:5433/app")]),
        )
        .unwrap();
        assert_eq!(t.describe(), "postgres://db:5433/app");
        // Outside production: TLS off unless the URL asks (node-postgres' behaviour).
        let DbTarget::Postgres(o) = t else { panic!() };
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Disable));
        let DbTarget::Postgres(o) = database_target(
            &Settings::default(),
            &env(&[("DATABASE_URL", "postgres://db/app?sslmode=require")]),
        )
        .unwrap() else {
            panic!()
        };
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Require));
        let prod = env(&[
            ("NODE_ENV", "production"),
            ("DATABASE_URL", "postgres://a:secret@db/app"),
        ]);
        let DbTarget::Postgres(o) = database_target(&Settings::default(), &prod).unwrap() else {
            panic!()
        };
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Require));
        let prod = env(&[
            ("NODE_ENV", "production"),
            ("DISABLE_PG_SSL", "1"),
            ("DATABASE_URL", "postgres://db/app"),
        ]);
        let DbTarget::Postgres(o) = database_target(&Settings::default(), &prod).unwrap() else {
            panic!()
        };
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Disable));
        let t = database_target(
            &Settings::default(),
            &env(&[("DATABASE_URL", "sqlite:///tmp/a.db")]),
        )
        .unwrap();
        assert_eq!(t.describe(), "sqlite:/tmp/a.db");
        let e = database_target(&Settings::default(), &env(&[("NODE_ENV", "production")]))
            .err()
            .unwrap();
        assert_eq!(e.code(), "PSPAS_CONFIG");
        assert!(
            database_target(&Settings::default(), &env(&[("DATABASE_URL", "mysql://x")])).is_err()
        );
    }

    #[test]
    fn postgres_role_defaults_as_libpq() {
        let role = |e: &dyn Env| match database_target(&Settings::default(), e).unwrap() {
            DbTarget::Postgres(o) => o.get_username().to_string(),
            DbTarget::Sqlite(_) => unreachable!(),
        };
        let mut e = EnvMap::default();
        e.vars.insert("PSQL_DB_NAME".into(), "app".into());
        e.os_user = Some("osuser".into());
        assert_eq!(role(&e), "osuser");
        e.vars.insert("PGUSER".into(), "pguser".into());
        assert_eq!(role(&e), "pguser");
        e.vars.insert("PSQL_DB_USER".into(), "dbuser".into());
        assert_eq!(role(&e), "dbuser");
    }

    #[test]
    fn pooler_mode_from_url_option_or_environment() {
        let pooler = |s: &Settings, e: &dyn Env| pool_settings(s, e).unwrap().pooler;
        assert!(!pooler(&Settings::default(), &env(&[])));
        let url = env(&[(
            "DATABASE_URL",
            "postgres://u:p@h:6432/db?sslmode=disable&pgbouncer=true",
        )]);
        assert!(pooler(&Settings::default(), &url));
        let DbTarget::Postgres(o) = database_target(&Settings::default(), &url).unwrap() else {
            panic!()
        };
        assert_eq!((o.get_port(), o.get_database()), (6432, Some("db")));
        assert!(pooler(
            &Settings::default(),
            &env(&[("PSPAS_PGBOUNCER", "true")])
        ));
        let on = Settings::default().with(&s::PGBOUNCER, true);
        assert!(pooler(&on, &env(&[])));
        assert_eq!(
            without_pooler_param("postgres://h/db?pgbouncer=true").as_str(),
            "postgres://h/db"
        );
    }

    #[test]
    fn pool_from_environment() {
        let p = pool_settings(&Settings::default(), &env(&[])).unwrap();
        assert_eq!(
            (
                p.max,
                p.min,
                p.acquire_timeout.as_millis(),
                p.idle_timeout.as_millis()
            ),
            (5, 5, 30000, 10000)
        );
        let p = pool_settings(
            &Settings::default(),
            &env(&[("DB_POOL_MAX", "10"), ("DB_POOL_MIN", "2")]),
        )
        .unwrap();
        assert_eq!((p.max, p.min), (10, 2));
        assert_eq!(
            pool_settings(&Settings::default(), &env(&[("DB_POOL_MAX", "x")]))
                .unwrap_err()
                .code(),
            "PSPAS_CONFIG"
        );
    }

    #[test]
    fn budget_settings_from_environment() {
        let b = budget_settings(&Settings::default(), &env(&[])).unwrap();
        assert_eq!((b.timezone, b.enforce), (chrono_tz::Tz::UTC, true));
        let b = budget_settings(
            &Settings::default(),
            &env(&[
                ("PSPAS_TIMEZONE", "Asia/Tokyo"),
                ("PSPAS_ENFORCE_BUDGETS", "off"),
            ]),
        )
        .unwrap();
        assert_eq!((b.timezone, b.enforce), (chrono_tz::Tz::Asia__Tokyo, false));
        assert!(budget_settings(
            &Settings::default(),
            &env(&[("PSPAS_TIMEZONE", "Nowhere/Else")])
        )
        .is_err());
        assert!(budget_settings(
            &Settings::default(),
            &env(&[("PSPAS_ENFORCE_BUDGETS", "maybe")])
        )
        .is_err());
    }
}

//! Where the database comes from: explicit `configure()` settings first, then the same
//! environment variables PolicySynth reads. (The RSA keys are read by the JS entry from the
//! caller's `process.env` at call time and passed in with each call.)
//!
//! Database, in order:
//! 1. `Settings::database_url`;
//! 2. `DATABASE_URL` (`postgres://`, `postgresql://` or `sqlite:`), in every `NODE_ENV`. With
//!    `NODE_ENV=production`, PostgreSQL uses TLS without verifying the certificate
//!    (`sslmode=require`) unless `DISABLE_PG_SSL` is set or the URL names an `sslmode`; in any
//!    other `NODE_ENV`, TLS is off unless the URL names an `sslmode`, as with PolicySynth's
//!    Sequelize connection (node-postgres never negotiates TLS on its own, where libpq's and
//!    sqlx's default `prefer` would);
//! 3. `NODE_ENV=production` without `DATABASE_URL` is an error (never a silent local file);
//! 4. `PSQL_DB_NAME` / `YP_DEV_DATABASE_NAME` set: PostgreSQL from `PSQL_DB_USER`
//!    (`YP_DEV_DATABASE_USERNAME`), `PSQL_DB_PASS` (`YP_DEV_DATABASE_PASSWORD`), `DB_HOST`
//!    (localhost), `DB_PORT` (5432), TLS off;
//! 5. otherwise the embedded default: SQLite in `PSPAS_SQLITE_PATH`, or
//!    `ps_private_access_store.sqlite` in the working directory.
//!
//! Pool: `DB_POOL_MAX` (5), `DB_POOL_MIN` (5), `DB_POOL_ACQUIRE_MS` (30000),
//! `DB_POOL_IDLE_MS` (10000).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::error::{Error, Result};
use crate::secret::SecretString;

pub const DEFAULT_SQLITE_FILE: &str = "ps_private_access_store.sqlite";

/// Explicit settings from `configure()`; every `None` falls back to the environment.
#[derive(Debug, Default)]
pub struct Settings {
    pub database_url: Option<SecretString>,
    pub sqlite_path: Option<PathBuf>,
    pub pool_max: Option<u32>,
    pub pool_min: Option<u32>,
    pub acquire_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    /// IANA timezone of the daily and monthly periods (default `PSPAS_TIMEZONE`, else UTC).
    pub timezone: Option<String>,
    /// Refuse calls over budget (default `PSPAS_ENFORCE_BUDGETS`, else on).
    pub enforce_budgets: Option<bool>,
    /// Cache unwrapped AES data keys (default `PSPAS_KEY_CACHE`, else on).
    pub key_cache: Option<bool>,
    pub key_cache_max_entries: Option<u64>,
    pub key_cache_max_age_ms: Option<u64>,
    /// Behind a transaction-mode pooler: no named prepared statements (default
    /// `PSPAS_PGBOUNCER`, or `?pgbouncer=true` on the URL, else off).
    pub pgbouncer: Option<bool>,
    /// Send concurrent calls on one key as one statement (default `PSPAS_COALESCE`, else on).
    pub coalesce: Option<bool>,
}

fn switch(name: &str, explicit: Option<bool>, env: &dyn Env, default: bool) -> Result<bool> {
    if let Some(b) = explicit {
        return Ok(b);
    }
    match env.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if ["false", "0", "off", "no"].contains(&v.as_str()) => Ok(false),
        Some(v) if ["true", "1", "on", "yes"].contains(&v.as_str()) => Ok(true),
        Some(_) => Err(Error::Config(format!("{name} must be true or false"))),
    }
}

/// Data-key cache: `configure()` first, then `PSPAS_KEY_CACHE` (on),
/// `PSPAS_KEY_CACHE_MAX_ENTRIES` (1000), `PSPAS_KEY_CACHE_MAX_AGE_MS` (600000).
pub fn key_cache_settings(
    settings: &Settings,
    env: &dyn Env,
) -> Result<crate::keycache::KeyCacheSettings> {
    let d = crate::keycache::KeyCacheSettings::default();
    Ok(crate::keycache::KeyCacheSettings {
        enabled: switch("PSPAS_KEY_CACHE", settings.key_cache, env, d.enabled)?,
        max_entries: num(
            env,
            "PSPAS_KEY_CACHE_MAX_ENTRIES",
            settings.key_cache_max_entries,
            d.max_entries as u64,
        )? as usize,
        max_age: Duration::from_millis(num(
            env,
            "PSPAS_KEY_CACHE_MAX_AGE_MS",
            settings.key_cache_max_age_ms,
            d.max_age.as_millis() as u64,
        )?),
    })
}

/// How budgets are judged.
#[derive(Debug, Clone)]
pub struct BudgetSettings {
    pub timezone: chrono_tz::Tz,
    pub enforce: bool,
}

/// Budget settings: `configure()` first, then `PSPAS_TIMEZONE` and `PSPAS_ENFORCE_BUDGETS`
/// (`false`, `0`, `off` or `no` turn enforcement off).
pub fn budget_settings(settings: &Settings, env: &dyn Env) -> Result<BudgetSettings> {
    let tz = settings
        .timezone
        .clone()
        .or_else(|| env.get("PSPAS_TIMEZONE"))
        .unwrap_or_else(|| "UTC".into());
    let enforce = match settings.enforce_budgets {
        Some(b) => b,
        None => match env
            .get("PSPAS_ENFORCE_BUDGETS")
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => true,
            Some(v) if ["false", "0", "off", "no"].contains(&v.as_str()) => false,
            Some(v) if ["true", "1", "on", "yes"].contains(&v.as_str()) => true,
            Some(_) => {
                return Err(Error::Config(
                    "PSPAS_ENFORCE_BUDGETS must be true or false".into(),
                ))
            }
        },
    };
    Ok(BudgetSettings {
        timezone: crate::budget::parse_timezone(&tz)?,
        enforce,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    pub max: u32,
    pub min: u32,
    pub acquire_timeout: Duration,
    pub idle_timeout: Duration,
    /// Behind a transaction-mode pooler (see [`Settings::pgbouncer`]).
    pub pooler: bool,
    /// Coalesce concurrent calls on one key (see [`Settings::coalesce`]).
    pub coalesce: bool,
}

/// Prisma's convention: `pgbouncer=true` in the URL's query string.
fn url_asks_for_pooler(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|kv| matches!(kv, "pgbouncer=true" | "pgbouncer=1"))
    })
}

/// The URL without a `pgbouncer=…` parameter (the driver does not know it).
fn without_pooler_param(url: &str) -> String {
    match url.split_once('?') {
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
    }
}

pub enum DbTarget {
    Postgres(Box<PgConnectOptions>),
    Sqlite(PathBuf),
}

impl DbTarget {
    /// `host:port/database` or the file path: safe to show, no password.
    pub fn describe(&self) -> String {
        match self {
            DbTarget::Postgres(o) => format!(
                "postgres://{}:{}/{}",
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or("")
            ),
            DbTarget::Sqlite(p) => format!("sqlite:{}", p.display()),
        }
    }
}

/// An environment reader: the process environment, or a snapshot of the caller's (the JS
/// layer reads the caller realm's `process.env`, which under jest is not the process's).
pub trait Env: Send + Sync {
    fn get(&self, name: &str) -> Option<String>;
    /// The operating-system user, PostgreSQL's last default for the role (as libpq and pg).
    fn os_user(&self) -> Option<String> {
        std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|v| !v.is_empty())
    }
}

/// The process environment, read at call time. Empty values count as unset.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// A snapshot of an environment (the caller's `process.env`), plus the OS user name.
#[derive(Default)]
pub struct EnvMap {
    pub vars: std::collections::HashMap<String, String>,
    pub os_user: Option<String>,
}

impl Env for EnvMap {
    fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.is_empty()).cloned()
    }
    fn os_user(&self) -> Option<String> {
        self.os_user.clone().filter(|v| !v.is_empty())
    }
}

fn num<T: FromStr>(env: &dyn Env, name: &str, explicit: Option<T>, default: T) -> Result<T> {
    if let Some(v) = explicit {
        return Ok(v);
    }
    match env.get(name) {
        None => Ok(default),
        Some(s) => s
            .trim()
            .parse()
            .map_err(|_| Error::Config(format!("{name} must be a non-negative integer"))),
    }
}

pub fn pool_settings(settings: &Settings, env: &dyn Env) -> Result<PoolSettings> {
    let url = match &settings.database_url {
        Some(u) => Some(u.expose().to_owned()),
        None => env.get("DATABASE_URL"),
    };
    let pooler = url.as_deref().is_some_and(url_asks_for_pooler)
        || switch("PSPAS_PGBOUNCER", settings.pgbouncer, env, false)?;
    let max = num(env, "DB_POOL_MAX", settings.pool_max, 5u32)?.max(1);
    let min = num(env, "DB_POOL_MIN", settings.pool_min, 5u32)?.min(max);
    Ok(PoolSettings {
        max,
        min,
        acquire_timeout: Duration::from_millis(num(
            env,
            "DB_POOL_ACQUIRE_MS",
            settings.acquire_timeout_ms,
            30_000u64,
        )?),
        idle_timeout: Duration::from_millis(num(
            env,
            "DB_POOL_IDLE_MS",
            settings.idle_timeout_ms,
            10_000u64,
        )?),
        pooler,
        coalesce: switch("PSPAS_COALESCE", settings.coalesce, env, true)?,
    })
}

/// `name` is where the URL came from (`databaseUrl` or `DATABASE_URL`), for the messages; the
/// URL itself (it may hold a password) is never repeated.
fn from_url(url: &str, name: &str, env: &dyn Env) -> Result<DbTarget> {
    let production = env.get("NODE_ENV").as_deref() == Some("production");
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
        let mut opts = PgConnectOptions::from_str(&without_pooler_param(url))
            .map_err(|_| Error::Config(format!("{name} is not a valid PostgreSQL URL")))?;
        let names_sslmode = url.contains("sslmode=");
        if !names_sslmode {
            opts = opts.ssl_mode(if production && env.get("DISABLE_PG_SSL").is_none() {
                PgSslMode::Require
            } else {
                PgSslMode::Disable
            });
        }
        return Ok(DbTarget::Postgres(Box::new(opts)));
    }
    Err(Error::Config(format!(
        "{name} must start with postgres://, postgresql:// or sqlite:"
    )))
}

/// Decide which database to use.
pub fn database_target(settings: &Settings, env: &dyn Env) -> Result<DbTarget> {
    if let Some(url) = &settings.database_url {
        return from_url(url.expose(), "databaseUrl", env);
    }
    if let Some(url) = env.get("DATABASE_URL") {
        return from_url(&url, "DATABASE_URL", env);
    }
    if env.get("NODE_ENV").as_deref() == Some("production") {
        return Err(Error::Config(
            "NODE_ENV is production but DATABASE_URL is not set".into(),
        ));
    }
    let first = |a: &str, b: &str| env.get(a).or_else(|| env.get(b));
    if let Some(db) = first("PSQL_DB_NAME", "YP_DEV_DATABASE_NAME") {
        let port = match env.get("DB_PORT") {
            None => 5432,
            Some(p) => p
                .trim()
                .parse()
                .map_err(|_| Error::Config("DB_PORT must be a port number".into()))?,
        };
        let mut opts = PgConnectOptions::new_without_pgpass()
            .host(&env.get("DB_HOST").unwrap_or_else(|| "localhost".into()))
            .port(port)
            .database(&db)
            .ssl_mode(PgSslMode::Disable);
        // The role as libpq and node-pg pick it: the variable, then PGUSER, then the OS user.
        if let Some(user) = first("PSQL_DB_USER", "YP_DEV_DATABASE_USERNAME")
            .or_else(|| env.get("PGUSER"))
            .or_else(|| env.os_user())
        {
            opts = opts.username(&user);
        }
        if let Some(pass) = first("PSQL_DB_PASS", "YP_DEV_DATABASE_PASSWORD") {
            opts = opts.password(&pass);
        }
        return Ok(DbTarget::Postgres(Box::new(opts)));
    }
    if let Some(p) = &settings.sqlite_path {
        return Ok(DbTarget::Sqlite(p.clone()));
    }
    Ok(DbTarget::Sqlite(
        env.get("PSPAS_SQLITE_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SQLITE_FILE)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
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
        DbTarget::Postgres(Box::new(o.clone()))
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
        let on = Settings {
            pgbouncer: Some(true),
            ..Settings::default()
        };
        assert!(pooler(&on, &env(&[])));
        assert_eq!(
            without_pooler_param("postgres://h/db?pgbouncer=true"),
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

//! `configure()` options and the caller's environment → core [`Settings`], in one `TryFrom`.
//! The JS layer has checked the option names and types; the values are checked here.

use std::collections::{BTreeMap, HashMap};

use napi_derive::napi;
use rsa::sha2::{Digest, Sha256};
use serde::Serialize;

use crate::budget;
use crate::config::{EnvMap, Settings};
use crate::error::Error;
use crate::secret::SecretString;

/// The database and runtime part of `configure()` (the RSA keys stay in the JS layer, read
/// at call time). Every option left out falls back to the environment.
#[napi(object)]
#[derive(Serialize, Default)]
pub struct NativeOptions {
    pub database_url: Option<String>,
    pub sqlite_path: Option<String>,
    pub pool_max: Option<f64>,
    pub pool_min: Option<f64>,
    pub acquire_timeout_ms: Option<f64>,
    pub idle_timeout_ms: Option<f64>,
    pub timezone: Option<String>,
    pub enforce_budgets: Option<bool>,
    pub key_cache: Option<bool>,
    pub key_cache_max_entries: Option<f64>,
    pub key_cache_max_age_ms: Option<f64>,
    pub pgbouncer: Option<bool>,
    pub coalesce: Option<bool>,
}

fn count(name: &str, v: Option<f64>) -> Result<Option<u64>, Error> {
    match v {
        None => Ok(None),
        Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= u32::MAX as f64 => {
            Ok(Some(n as u64))
        }
        Some(_) => Err(Error::Config(format!(
            "{name} must be a non-negative integer"
        ))),
    }
}

impl TryFrom<&NativeOptions> for Settings {
    type Error = Error;

    fn try_from(o: &NativeOptions) -> Result<Settings, Error> {
        let small =
            |name: &str, v| -> Result<Option<u32>, Error> { Ok(count(name, v)?.map(|n| n as u32)) };
        Ok(Settings {
            database_url: o.database_url.clone().map(SecretString::new),
            sqlite_path: o.sqlite_path.clone().map(Into::into),
            pool_max: small("poolMax", o.pool_max)?,
            pool_min: small("poolMin", o.pool_min)?,
            acquire_timeout_ms: count("acquireTimeoutMs", o.acquire_timeout_ms)?,
            idle_timeout_ms: count("idleTimeoutMs", o.idle_timeout_ms)?,
            timezone: match &o.timezone {
                Some(tz) => Some(budget::parse_timezone(tz).map(|_| tz.clone())?),
                None => None,
            },
            enforce_budgets: o.enforce_budgets,
            key_cache: o.key_cache,
            key_cache_max_entries: count("keyCacheMaxEntries", o.key_cache_max_entries)?,
            key_cache_max_age_ms: count("keyCacheMaxAgeMs", o.key_cache_max_age_ms)?,
            pgbouncer: o.pgbouncer,
            coalesce: o.coalesce,
        })
    }
}

/// The caller's environment as the core reads it.
pub fn env_map(vars: HashMap<String, String>, os_user: Option<String>) -> EnvMap {
    EnvMap { vars, os_user }
}

/// A digest naming one set-up (options + environment), the key under which its service is
/// shared in the process. The inputs hold secrets (a password in a URL), so only the digest
/// is kept.
pub fn fingerprint(o: &NativeOptions, env: &EnvMap) -> [u8; 32] {
    let sorted: BTreeMap<&String, &String> = env.vars.iter().collect();
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(o).unwrap_or_default());
    h.update([0]);
    h.update(serde_json::to_vec(&sorted).unwrap_or_default());
    h.update([0]);
    h.update(env.os_user.as_deref().unwrap_or("").as_bytes());
    h.finalize().into()
}

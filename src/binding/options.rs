//! The settings table and `configure()` options across the boundary: the table is exported
//! for the JS entry (its options type, environment list and the README table are generated
//! from it), and the options the JS entry passes become core [`Settings`], checked there.

use std::collections::{BTreeMap, HashMap};

use napi::bindgen_prelude::Either3;
use napi_derive::napi;
use rsa::sha2::{Digest, Sha256};

use crate::error::Error;
use crate::settings::{self, EnvMap, Settings, Value};

/// One setting: its `configure()` option (if any), its environment variables (the first set
/// one wins), its JavaScript type, documented default, scope (`setup`: part of a database
/// set-up; `call`: read at each call; `process`: read once at load) and doc.
#[napi(object)]
pub struct NativeSetting {
    pub option: Option<String>,
    pub env: Vec<String>,
    pub js_type: String,
    pub default: String,
    pub scope: String,
    pub doc: String,
}

/// The settings table, in the order the docs list it.
#[napi(catch_unwind)]
pub fn settings_table() -> Vec<NativeSetting> {
    settings::ALL
        .iter()
        .map(|s| NativeSetting {
            option: s.option.map(str::to_owned),
            env: s.env.iter().map(|v| (*v).to_owned()).collect(),
            js_type: s.kind.js_type().to_owned(),
            default: s.default.to_owned(),
            scope: s.scope.as_str().to_owned(),
            doc: s.doc(),
        })
        .collect()
}

/// The options as core settings, each value checked (errors name the option). `options` is
/// the database and runtime part of `configure()`, by option name (the RSA keys stay in the
/// JS layer, read at call time); every option left out falls back to the environment.
pub fn settings_from(
    options: HashMap<String, Either3<String, f64, bool>>,
) -> Result<Settings, Error> {
    Settings::from_options(options.into_iter().map(|(name, v)| {
        let value = match v {
            Either3::A(text) => Value::from(text),
            Either3::B(n) => Value::Number(n),
            Either3::C(b) => Value::Bool(b),
        };
        (name, value)
    }))
}

/// The caller's environment as the core reads it.
pub fn env_map(vars: HashMap<String, String>, os_user: Option<String>) -> EnvMap {
    EnvMap { vars, os_user }
}

/// A digest naming one set-up (options + environment), the key under which its service is
/// shared in the process. The inputs hold secrets (a password in a URL), so only the digest
/// is kept.
pub fn fingerprint(settings: &Settings, env: &EnvMap) -> [u8; 32] {
    let sorted: BTreeMap<&String, &String> = env.vars.iter().collect();
    let mut h = Sha256::new();
    h.update(settings.digest_input());
    h.update([0]);
    for (k, v) in sorted {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    h.update([0]);
    h.update(env.os_user.as_deref().unwrap_or("").as_bytes());
    h.finalize().into()
}

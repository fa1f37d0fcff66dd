//! Where unset settings are read from: the process environment, a snapshot of the caller's
//! `process.env`, or nothing.

use std::collections::HashMap;

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

/// No environment at all (checking `configure()` values on their own).
pub struct NoEnv;

impl Env for NoEnv {
    fn get(&self, _: &str) -> Option<String> {
        None
    }
    fn os_user(&self) -> Option<String> {
        None
    }
}

/// A snapshot of an environment (the caller's `process.env`), plus the OS user name.
#[derive(Default)]
pub struct EnvMap {
    pub vars: HashMap<String, String>,
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

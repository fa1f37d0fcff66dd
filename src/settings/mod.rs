//! The one table of settings: every `configure()` option and every environment variable the
//! package reads, with its type, default, scope and doc, written once.
//!
//! Everything else is derived from [`ALL`]:
//! - the core reads values through [`Resolver`] (explicit `configure()` value, then the
//!   variables in order, then the default), with errors that name the option or variable;
//! - the binding exports the table (`settingsTable()`), from which `npm run build` generates
//!   the JS entry's options type and its environment list (`lib/settings.generated.ts`) and
//!   the README's table (`tools/gen-settings.mjs`; `npm test` fails when they drift).
//!
//! (Over 400 lines: about 340 lines of types and resolver, then their unit tests.)
//!
//! Adding a setting is one entry in the `settings!` block of [`table`] plus its use (a
//! `Resolver` accessor where the value is needed).

use std::collections::HashMap;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::secret::SecretString;

/// The type of a setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (a path, a host, an IANA timezone, a `NODE_ENV` value).
    Text,
    /// Text that may hold a password (a database URL, a password): never echoed, zeroized.
    Secret,
    /// A PEM private or public key (read by the JS entry at call time).
    Pem,
    /// A non-negative whole number.
    Count,
    /// `true`/`false` (`1`/`0`, `on`/`off`, `yes`/`no` in the environment).
    Switch,
}

impl Kind {
    /// The JavaScript type of the `configure()` option.
    pub fn js_type(self) -> &'static str {
        match self {
            Kind::Text | Kind::Secret | Kind::Pem => "string",
            Kind::Count => "number",
            Kind::Switch => "boolean",
        }
    }
}

/// When and by whom a setting is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Part of a database set-up: the JS entry snapshots these variables from the caller's
    /// `process.env` and opens (or reuses) one handle per distinct set-up.
    Setup,
    /// Read by the JS entry from the caller's `process.env` at every call (the RSA keys).
    Call,
    /// Read once from the process environment when the addon loads.
    Process,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Setup => "setup",
            Scope::Call => "call",
            Scope::Process => "process",
        }
    }
}

/// One row of the table.
#[derive(Debug)]
pub struct Setting {
    /// The `configure()` option, if the setting has one.
    pub option: Option<&'static str>,
    /// The environment variables, the first set one wins (PolicySynth's names and fallbacks).
    pub env: &'static [&'static str],
    pub kind: Kind,
    /// The default as documented (`""`: none); counts and switches parse it.
    pub default: &'static str,
    pub scope: Scope,
    /// What it does (Markdown, one paragraph): the doc comment of its entry.
    pub doc: &'static str,
}

impl Setting {
    /// The doc text without the doc comments' leading spaces and line breaks.
    pub fn doc(&self) -> String {
        self.doc
            .split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The name errors use for a value that came from `configure()`.
    fn option_name(&self) -> &'static str {
        self.option
            .unwrap_or(self.env.first().copied().unwrap_or("setting"))
    }
}

/// Each entry: its doc comment, then `NAME = { option, env, kind, default, scope }`. Defines a
/// `pub const NAME: Setting` and lists it in `ALL` (in this order in the docs).
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident = {
            option: $option:expr,
            env: [$($var:literal),* $(,)?],
            kind: $kind:ident,
            default: $default:literal,
            scope: $scope:ident $(,)?
        };
    )*) => {
        $(
            $(#[doc = $doc])*
            pub const $name: Setting = Setting {
                option: $option,
                env: &[$($var),*],
                kind: Kind::$kind,
                default: $default,
                scope: Scope::$scope,
                doc: concat!($($doc, "\n"),*),
            };
        )*
        /// Every setting, in the order the docs list them.
        pub const ALL: &[&Setting] = &[$(&$name),*];
    };
}

mod env;
mod table;

pub use env::{Env, EnvMap, NoEnv, ProcessEnv};
pub use table::*;

/// An explicit `configure()` value, as the JS entry passed it (types checked there).
#[derive(Debug)]
pub enum Value {
    Text(SecretString),
    Number(f64),
    Bool(bool),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(SecretString::new(v.to_owned()))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(SecretString::new(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Number(v)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Number(v as f64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// Explicit settings from `configure()`, by setting; every one left out falls back to its
/// environment variables, then its default.
#[derive(Debug, Default)]
pub struct Settings {
    explicit: HashMap<&'static str, Value>,
}

impl Settings {
    /// `setting` set to `value` (tests and Rust callers).
    pub fn with(mut self, setting: &Setting, value: impl Into<Value>) -> Settings {
        self.explicit.insert(setting.option_name(), value.into());
        self
    }

    /// The `configure()` options by name, each value checked against its setting's type and
    /// range (errors name the option, never its value). The PEM options stay in the JS entry.
    pub fn from_options(options: impl IntoIterator<Item = (String, Value)>) -> Result<Settings> {
        let mut settings = Settings::default();
        for (name, value) in options {
            let setting = ALL
                .iter()
                .find(|s| s.option == Some(name.as_str()) && s.kind != Kind::Pem)
                .ok_or_else(|| Error::Config(format!("Unknown option {name:?}")))?;
            let r = Resolver::new(&settings, &NoEnv);
            let fits = match (&value, setting.kind) {
                (Value::Text(_), Kind::Text | Kind::Secret) | (Value::Bool(_), Kind::Switch) => {
                    true
                }
                (Value::Number(n), Kind::Count) => r.explicit_count(setting, *n).is_ok(),
                _ => false,
            };
            if !fits {
                return Err(match setting.kind {
                    Kind::Count => Resolver::not_a_count(setting.option_name()),
                    k => Error::Config(format!("{name} must be a {}", k.js_type())),
                });
            }
            settings.explicit.insert(setting.option_name(), value);
        }
        if settings.explicit.contains_key(TIMEZONE.option_name()) {
            Resolver::new(&settings, &NoEnv).timezone()?;
        }
        if settings.explicit.contains_key(GROUP_BINDING.option_name()) {
            crate::config::group_binding(&settings, &NoEnv)?;
        }
        Ok(settings)
    }

    /// Whether `setting` was given explicitly.
    pub fn has(&self, setting: &Setting) -> bool {
        self.explicit.contains_key(setting.option_name())
    }

    /// The explicit values in a stable order, for a digest naming the set-up.
    pub fn digest_input(&self) -> Vec<u8> {
        let mut names: Vec<_> = self.explicit.keys().collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            match &self.explicit[name] {
                Value::Text(t) => {
                    out.push(b't');
                    out.extend_from_slice(t.expose().as_bytes());
                }
                Value::Number(n) => {
                    out.push(b'n');
                    out.extend_from_slice(&n.to_bits().to_le_bytes());
                }
                Value::Bool(b) => out.extend_from_slice(if *b { b"b1" } else { b"b0" }),
            }
            out.push(0);
        }
        out
    }
}

/// Where a value came from: the name errors use (the option or the variable).
pub struct Found<T> {
    pub value: T,
    pub from: &'static str,
}

/// Reads settings: the explicit `configure()` value, then the setting's variables in order
/// (empty counts as unset), then its default.
pub struct Resolver<'a> {
    settings: &'a Settings,
    env: &'a dyn Env,
}

enum Raw<'a> {
    Explicit(&'a Value),
    Env(String),
}

impl<'a> Resolver<'a> {
    pub fn new(settings: &'a Settings, env: &'a dyn Env) -> Resolver<'a> {
        Resolver { settings, env }
    }

    pub fn env(&self) -> &dyn Env {
        self.env
    }

    fn raw(&self, s: &Setting) -> Option<(Raw<'_>, &'static str)> {
        if let Some(v) = s.option.and_then(|o| self.settings.explicit.get(o)) {
            return Some((Raw::Explicit(v), s.option_name()));
        }
        s.env
            .iter()
            .find_map(|name| self.env.get(name).map(|v| (Raw::Env(v), *name)))
    }

    fn not_a_count(name: &str) -> Error {
        Error::Config(format!("{name} must be a non-negative integer"))
    }

    fn explicit_count(&self, s: &Setting, n: f64) -> Result<u64> {
        if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= u32::MAX as f64 {
            Ok(n as u64)
        } else {
            Err(Self::not_a_count(s.option_name()))
        }
    }

    /// A text setting (its default when unset and it has one), with where it came from.
    pub fn found_text(&self, s: &Setting) -> Option<Found<SecretString>> {
        match self.raw(s) {
            Some((Raw::Explicit(Value::Text(t)), from)) => Some(Found {
                value: SecretString::new(t.expose().to_owned()),
                from,
            }),
            Some((Raw::Env(v), from)) => Some(Found {
                value: SecretString::new(v),
                from,
            }),
            _ if !s.default.is_empty() => Some(Found {
                value: SecretString::new(s.default.to_owned()),
                from: s.option_name(),
            }),
            _ => None,
        }
    }

    /// A text setting that holds no secret.
    pub fn text(&self, s: &Setting) -> Option<String> {
        self.found_text(s).map(|f| f.value.expose().to_owned())
    }

    /// A number: `T` must hold it (the error names the option or variable).
    pub fn number<T: FromStr + TryFrom<u64>>(&self, s: &Setting) -> Result<T> {
        let (n, from) = match self.raw(s) {
            Some((Raw::Explicit(Value::Number(n)), from)) => (self.explicit_count(s, *n)?, from),
            Some((Raw::Env(v), from)) => {
                return v.trim().parse().map_err(|_| Self::not_a_count(from));
            }
            _ => (
                s.default
                    .parse::<u64>()
                    .map_err(|_| Self::not_a_count(s.option_name()))?,
                s.option_name(),
            ),
        };
        T::try_from(n).map_err(|_| Self::not_a_count(from))
    }

    /// A switch: `false`, `0`, `off`, `no` / `true`, `1`, `on`, `yes` in the environment.
    pub fn switch(&self, s: &Setting) -> Result<bool> {
        let word = match self.raw(s) {
            Some((Raw::Explicit(Value::Bool(b)), _)) => return Ok(*b),
            Some((Raw::Env(v), from)) => (v.trim().to_ascii_lowercase(), from),
            _ => (s.default.to_owned(), s.option_name()),
        };
        match word.0.as_str() {
            "false" | "0" | "off" | "no" => Ok(false),
            "true" | "1" | "on" | "yes" => Ok(true),
            _ => Err(Error::Config(format!("{} must be true or false", word.1))),
        }
    }

    /// The budget timezone.
    pub fn timezone(&self) -> Result<chrono_tz::Tz> {
        crate::budget::parse_timezone(&self.text(&TIMEZONE).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_parses_as_its_kind_and_names_are_unique() {
        let none = Settings::default();
        let r = Resolver::new(&none, &NoEnv);
        for s in ALL {
            match s.kind {
                Kind::Count => assert!(r.number::<u64>(s).is_ok(), "{s:?}"),
                Kind::Switch => assert!(r.switch(s).is_ok(), "{s:?}"),
                _ => {}
            }
            assert!(!s.env.is_empty() && !s.doc().is_empty(), "{s:?}");
        }
        let mut names: Vec<_> = ALL
            .iter()
            .flat_map(|s| s.env.iter().chain(s.option.iter()))
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn explicit_then_variables_in_order_then_default() {
        let mut env = EnvMap::default();
        let r = |s: &Settings, e: &EnvMap| Resolver::new(s, e).number::<u32>(&POOL_MAX).unwrap();
        assert_eq!(r(&Settings::default(), &env), 5);
        env.vars.insert("DB_POOL_MAX".into(), "7".into());
        assert_eq!(r(&Settings::default(), &env), 7);
        assert_eq!(r(&Settings::default().with(&POOL_MAX, 9u64), &env), 9);
        env.vars.insert("YP_DEV_DATABASE_NAME".into(), "yp".into());
        assert_eq!(
            Resolver::new(&Settings::default(), &env)
                .text(&DB_NAME)
                .as_deref(),
            Some("yp")
        );
        env.vars.insert("PSQL_DB_NAME".into(), "ps".into());
        assert_eq!(
            Resolver::new(&Settings::default(), &env)
                .text(&DB_NAME)
                .as_deref(),
            Some("ps")
        );
    }

    #[test]
    fn options_are_checked_naming_the_option() {
        let err = |o: Vec<(&str, Value)>| {
            Settings::from_options(o.into_iter().map(|(k, v)| (k.to_owned(), v)))
                .unwrap_err()
                .to_string()
        };
        assert!(err(vec![("poolMax", Value::Number(-1.0))])
            .contains("poolMax must be a non-negative integer"));
        assert!(err(vec![("poolMax", Value::Number(1e10))]).contains("poolMax must be"));
        assert!(err(vec![("timezone", "Nowhere/Else".into())]).contains("timezone must be an IANA"));
        assert!(err(vec![("coalesce", "yes".into())]).contains("coalesce must be a boolean"));
        assert!(err(vec![("nope", Value::Bool(true))]).contains("Unknown option"));
        let mut env = EnvMap::default();
        env.vars.insert("PSPAS_KEY_CACHE".into(), "maybe".into());
        let e = Resolver::new(&Settings::default(), &env)
            .switch(&KEY_CACHE)
            .unwrap_err();
        assert!(e
            .to_string()
            .contains("PSPAS_KEY_CACHE must be true or false"));
    }
}

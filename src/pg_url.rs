//! PostgreSQL URLs with several servers, read as libpq reads them:
//! `postgres://user:pass@h1:5432,h2:5433/db?target_session_attrs=read-write`. The hosts are
//! tried in order and the first whose session has the asked-for attributes is used
//! ([`SessionAttrs`]); every other part of the URL (user, password, database, parameters)
//! applies to each host alike, so each host becomes one complete single-host URL for the
//! driver.
//!
//! Errors name the part that is wrong (the host's position and text, the parameter) and never
//! repeat the user information: a password never reaches a message.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// libpq's `target_session_attrs`: which server of the list a session may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionAttrs {
    /// Any server that accepts the connection (libpq's default).
    #[default]
    Any,
    /// A server whose sessions accept writes (`transaction_read_only` is off).
    ReadWrite,
    /// A server whose sessions are read-only.
    ReadOnly,
    /// A server not in recovery (`pg_is_in_recovery()` false).
    Primary,
    /// A server in recovery (a standby).
    Standby,
    /// A standby if there is one, else any server.
    PreferStandby,
}

impl SessionAttrs {
    /// The URL's spelling of each value.
    pub const NAMES: [(&'static str, SessionAttrs); 6] = [
        ("any", SessionAttrs::Any),
        ("read-write", SessionAttrs::ReadWrite),
        ("read-only", SessionAttrs::ReadOnly),
        ("primary", SessionAttrs::Primary),
        ("standby", SessionAttrs::Standby),
        ("prefer-standby", SessionAttrs::PreferStandby),
    ];

    /// Does a server with these properties satisfy the attributes? `read_only`: its
    /// `transaction_read_only`; `in_recovery`: its `pg_is_in_recovery()`.
    /// (`PreferStandby`'s second pass, any server, is the caller's.)
    pub fn accepts(self, read_only: bool, in_recovery: bool) -> bool {
        match self {
            SessionAttrs::Any => true,
            SessionAttrs::ReadWrite => !read_only,
            SessionAttrs::ReadOnly => read_only,
            SessionAttrs::Primary => !in_recovery,
            SessionAttrs::Standby | SessionAttrs::PreferStandby => in_recovery,
        }
    }
}

/// The PostgreSQL servers a set-up may use, in order, and which of them it may use
/// (see [`SessionAttrs`]). Dereferences to the first server's options.
#[derive(Clone)]
pub struct PgServers {
    /// Never empty.
    pub hosts: Vec<PgConnectOptions>,
    pub attrs: SessionAttrs,
}

impl PgServers {
    /// More than one server, or attributes to check: connections must be placed.
    pub fn needs_placing(&self) -> bool {
        self.hosts.len() > 1 || self.attrs != SessionAttrs::Any
    }

    /// `postgres://h1:p1,h2:p2/database`: safe to show, no user or password.
    pub fn describe(&self) -> String {
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|o| {
                let h = o.get_host();
                if h.contains(':') && !h.starts_with('[') {
                    format!("[{h}]:{}", o.get_port())
                } else {
                    format!("{h}:{}", o.get_port())
                }
            })
            .collect();
        format!(
            "postgres://{}/{}",
            hosts.join(","),
            self.hosts[0].get_database().unwrap_or("")
        )
    }
}

impl From<PgConnectOptions> for PgServers {
    fn from(one: PgConnectOptions) -> PgServers {
        PgServers {
            hosts: vec![one],
            attrs: SessionAttrs::Any,
        }
    }
}

impl std::ops::Deref for PgServers {
    type Target = PgConnectOptions;
    fn deref(&self) -> &PgConnectOptions {
        &self.hosts[0]
    }
}

/// A PostgreSQL URL read: one driver option set per host, in the URL's order, and the
/// session attributes asked for (`None`: the URL names none).
pub struct PgUrl {
    pub hosts: Vec<PgConnectOptions>,
    pub attrs: Option<SessionAttrs>,
}

/// Read `url` (`postgres://` or `postgresql://`). `name` says where it came from
/// (`DATABASE_URL`, `databaseUrl`) for the messages.
pub fn parse(url: &str, name: &str) -> Result<PgUrl> {
    let bad = |what: String| Error::Config(format!("{name}: {what}"));
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(s, _)| matches!(*s, "postgres" | "postgresql"))
        .ok_or_else(|| bad("must start with postgres:// or postgresql://".into()))?;
    // The authority runs to the first '/', '?' or '#'.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // User information: everything before the last '@' of the authority (a password may
    // hold '@' only percent-encoded, as in any URL; the last '@' is the separator).
    let (userinfo, hostlist) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    // No '@' in the authority but one further on: most likely a password holding an
    // unencoded '/', '?' or '#', which cut the authority short; the host text must then not
    // be repeated (it may be the start of the password).
    let echo = userinfo.is_some() || !tail.contains('@');
    let (tail, attrs) = take_session_attrs(tail, &bad)?;
    let hosts: Vec<&str> = hostlist.split(',').collect();
    let count = hosts.len();
    let mut out = Vec::with_capacity(count);
    for (i, host) in hosts.iter().enumerate() {
        let place = || match (count, echo) {
            (1, true) => format!("the host {host:?}"),
            (1, false) => "the host".to_owned(),
            (_, true) => format!("host {} of {count} ({host:?})", i + 1),
            (_, false) => format!("host {} of {count}", i + 1),
        };
        if host.is_empty() && count > 1 {
            return Err(bad(format!("{} is empty", place())));
        }
        check_port(host).map_err(|what| bad(format!("{}: {what}", place())))?;
        let single = Zeroizing::new(match userinfo {
            Some(u) => format!("{scheme}://{u}@{host}{}", tail.as_str()),
            None => format!("{scheme}://{host}{}", tail.as_str()),
        });
        let opts = PgConnectOptions::from_str(&single).map_err(|_| {
            Error::Config(if count == 1 {
                format!("{name} is not a valid PostgreSQL URL")
            } else {
                format!("{name} is not a valid PostgreSQL URL at {}", place())
            })
        })?;
        out.push(opts);
    }
    Ok(PgUrl { hosts: out, attrs })
}

/// A host entry's port, when it names one, must be a number from 1 to 65535.
fn check_port(host: &str) -> std::result::Result<(), String> {
    // `[v6]:port`, `[v6]`, `name:port`, `name`.
    let port = if let Some(v6) = host.strip_prefix('[') {
        let (_, after) = v6
            .split_once(']')
            .ok_or_else(|| "an IPv6 address in [ ] is not closed".to_owned())?;
        match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| "text after the IPv6 address that is not :port".to_owned())?,
            ),
        }
    } else {
        host.split_once(':').map(|(_, p)| p)
    };
    match port {
        None => Ok(()),
        Some(p) if p.parse::<u16>().is_ok_and(|n| n > 0) => Ok(()),
        Some(_) => Err("the port is not a number from 1 to 65535".into()),
    }
}

/// Remove `target_session_attrs` from the path-and-query `tail` (the driver does not know it)
/// and read it.
fn take_session_attrs(
    tail: &str,
    bad: &dyn Fn(String) -> Error,
) -> Result<(Zeroizing<String>, Option<SessionAttrs>)> {
    let Some((path, query)) = tail.split_once('?') else {
        return Ok((Zeroizing::new(tail.to_owned()), None));
    };
    let mut attrs = None;
    let mut kept = Vec::new();
    for kv in query.split('&') {
        match kv.split_once('=') {
            Some(("target_session_attrs", v)) => {
                let found = SessionAttrs::NAMES.iter().find(|(n, _)| *n == v);
                attrs = Some(found.map(|(_, a)| *a).ok_or_else(|| {
                    let names: Vec<&str> = SessionAttrs::NAMES.iter().map(|(n, _)| *n).collect();
                    bad(format!(
                        "target_session_attrs must be one of {}",
                        names.join(", ")
                    ))
                })?);
            }
            _ => kept.push(kv),
        }
    }
    Ok((
        Zeroizing::new(if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
        }),
        attrs,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        match parse(url, "DATABASE_URL") {
            Err(Error::Config(m)) => m,
            Err(e) => panic!("not a config error: {e}"),
            Ok(_) => panic!("{url} parsed"),
        }
    }

    #[test]
    fn hosts_in_order_with_the_rest_applied_to_each() {
        let u = parse(
            "postgres://app:s3cret@db1:5433,db2,[::1]:6000/budgets?sslmode=disable&target_session_attrs=read-write",
            "DATABASE_URL",
        )
        .unwrap();
        assert_eq!(u.attrs, Some(SessionAttrs::ReadWrite));
        let got: Vec<(String, u16, Option<String>, String)> = u
            .hosts
            .iter()
            .map(|o| {
                (
                    o.get_host().to_owned(),
                    o.get_port(),
                    o.get_database().map(str::to_owned),
                    o.get_username().to_owned(),
                )
            })
            .collect();
        let want = |h: &str, p| {
            (
                h.to_owned(),
                p,
                Some("budgets".to_owned()),
                "app".to_owned(),
            )
        };
        assert_eq!(
            got,
            vec![want("db1", 5433), want("db2", 5432), want("[::1]", 6000)]
        );
    }

    #[test]
    fn one_host_and_no_attributes() {
        let u = parse("postgresql://root@127.0.0.1:5432/test", "databaseUrl").unwrap();
        assert_eq!(u.hosts.len(), 1);
        assert_eq!(u.attrs, None);
    }

    #[test]
    fn errors_name_the_part_never_the_password() {
        let m = err("postgres://u:hunter2@db1:5432,db2:54x2/x");
        assert_eq!(
            m,
            "DATABASE_URL: host 2 of 2 (\"db2:54x2\"): the port is not a number from 1 to 65535"
        );
        assert_eq!(
            err("postgres://u:hunter2@db1,,db3/x"),
            "DATABASE_URL: host 2 of 3 (\"\") is empty"
        );
        assert_eq!(
            err("postgres://u:hunter2@db1/x?target_session_attrs=writable"),
            "DATABASE_URL: target_session_attrs must be one of any, read-write, read-only, \
             primary, standby, prefer-standby"
        );
        assert_eq!(
            err("postgres://u:hunter2@[::1:5432/x"),
            "DATABASE_URL: the host \"[::1:5432\": an IPv6 address in [ ] is not closed"
        );
        assert_eq!(
            err("mysql://u:hunter2@db1/x"),
            "DATABASE_URL: must start with postgres:// or postgresql://"
        );
        // A password with an unencoded '/', '?' or '#' cuts the authority short: the "host"
        // would be the password's start, so it is not repeated.
        assert_eq!(
            err("postgres://u:hun/ter2@db1/x"),
            "DATABASE_URL: the host: the port is not a number from 1 to 65535"
        );
        for url in [
            "postgres://u:hun/ter2@db1/x",
            "postgres://u:hun?ter2@db1/x",
            "postgres://u:hun#ter2@db1/x",
            "postgres://u:hunter2@db1:5432,db2:54x2/x",
            "postgres://u:hunter2@db1/x?target_session_attrs=writable",
            "postgres://u:hunter2@db1:0/x",
        ] {
            assert!(!err(url).contains("hun"), "{url}");
        }
    }

    #[test]
    fn attributes_as_libpq_defines_them() {
        use SessionAttrs::*;
        // (read_only, in_recovery): a primary, a primary with read-only sessions, a standby.
        let servers = [(false, false), (true, false), (true, true)];
        let table = [
            (Any, [true, true, true]),
            (ReadWrite, [true, false, false]),
            (ReadOnly, [false, true, true]),
            (Primary, [true, true, false]),
            (Standby, [false, false, true]),
            (PreferStandby, [false, false, true]),
        ];
        for (attrs, want) in table {
            let got: Vec<bool> = servers.iter().map(|&(r, i)| attrs.accepts(r, i)).collect();
            assert_eq!(got, want, "{attrs:?}");
        }
    }
}

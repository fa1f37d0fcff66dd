//! THE settings table: one entry per setting, its doc comment first (it becomes the JSDoc of
//! the option and the README's "meaning"), in the order the docs list them.

use super::{Kind, Scope, Setting};

settings! {
    /// `postgres://…`, `postgresql://…` or `sqlite:path`; overrides every other database
    /// variable and is honoured in every `NODE_ENV`. Outside production TLS is off unless the
    /// URL names an `sslmode` (as node-postgres under PolicySynth's Sequelize). Several
    /// servers, as libpq reads them (`postgres://u@h1:5432,h2:5433/db`), are tried in order
    /// for the first writable one (`target_session_attrs`, `read-write` by default with
    /// several), and looked for again when a server refuses writes or cannot be reached.
    DATABASE_URL = {
        option: Some("databaseUrl"),
        env: ["DATABASE_URL"],
        kind: Secret,
        default: "",
        scope: Setup,
    };
    /// `production` requires a database URL and connects to PostgreSQL over TLS without
    /// certificate verification (`sslmode=require`) unless `DISABLE_PG_SSL` is set or the URL
    /// names its own `sslmode`.
    NODE_ENV = {
        option: None,
        env: ["NODE_ENV"],
        kind: Text,
        default: "",
        scope: Setup,
    };
    /// Any value: no TLS in production when the URL names no `sslmode`.
    DISABLE_PG_SSL = {
        option: None,
        env: ["DISABLE_PG_SSL"],
        kind: Text,
        default: "",
        scope: Setup,
    };
    /// PostgreSQL database outside production when no URL is set (TLS off).
    DB_NAME = {
        option: None,
        env: ["PSQL_DB_NAME", "YP_DEV_DATABASE_NAME"],
        kind: Text,
        default: "",
        scope: Setup,
    };
    /// The PostgreSQL role with `PSQL_DB_NAME`; then `PGUSER`, then the OS user, as libpq
    /// and node-postgres pick it.
    DB_USER = {
        option: None,
        env: ["PSQL_DB_USER", "YP_DEV_DATABASE_USERNAME", "PGUSER"],
        kind: Text,
        default: "",
        scope: Setup,
    };
    /// The PostgreSQL password with `PSQL_DB_NAME`.
    DB_PASS = {
        option: None,
        env: ["PSQL_DB_PASS", "YP_DEV_DATABASE_PASSWORD"],
        kind: Secret,
        default: "",
        scope: Setup,
    };
    /// The PostgreSQL host with `PSQL_DB_NAME`.
    DB_HOST = {
        option: None,
        env: ["DB_HOST"],
        kind: Text,
        default: "localhost",
        scope: Setup,
    };
    /// The PostgreSQL port with `PSQL_DB_NAME`.
    DB_PORT = {
        option: None,
        env: ["DB_PORT"],
        kind: Count,
        default: "5432",
        scope: Setup,
    };
    /// The SQLite file used when no PostgreSQL is configured (the embedded default).
    SQLITE_PATH = {
        option: Some("sqlitePath"),
        env: ["PSPAS_SQLITE_PATH"],
        kind: Text,
        default: "ps_private_access_store.sqlite",
        scope: Setup,
    };
    /// PEM of the RSA public key, SPKI (`BEGIN PUBLIC KEY`) or PKCS#1, used by
    /// `encryptApiKey`; literal `\n` as written in `.env` files is accepted.
    PUBLIC_KEY = {
        option: Some("publicKey"),
        env: ["RSA_API_ENCRYPTION_PUBLIC_KEY"],
        kind: Pem,
        default: "",
        scope: Call,
    };
    /// PEM of the RSA private key, PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`); literal `\n` as written in `.env` files is accepted.
    PRIVATE_KEY = {
        option: Some("privateKey"),
        env: ["RSA_API_ENCRYPTION_PRIVATE_KEY"],
        kind: Pem,
        default: "",
        scope: Call,
    };
    /// Earlier RSA private keys during a key rotation, PEMs one after another (newlines, `\n`
    /// escapes or commas between them), tried in order after the current key, so agents keep
    /// working while `rotateKeys()` rewraps the rows; drop them once `verifyKeys()` reports
    /// every row opens with the current key.
    PREVIOUS_PRIVATE_KEYS = {
        option: Some("previousPrivateKeys"),
        env: ["RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS"],
        kind: Pem,
        default: "",
        scope: Call,
    };
    /// Connections the pool opens at most.
    POOL_MAX = {
        option: Some("poolMax"),
        env: ["DB_POOL_MAX"],
        kind: Count,
        default: "5",
        scope: Setup,
    };
    /// Connections the pool keeps open (at most `poolMax`).
    POOL_MIN = {
        option: Some("poolMin"),
        env: ["DB_POOL_MIN"],
        kind: Count,
        default: "5",
        scope: Setup,
    };
    /// How long a call waits for a pooled connection, in milliseconds.
    ACQUIRE_TIMEOUT_MS = {
        option: Some("acquireTimeoutMs"),
        env: ["DB_POOL_ACQUIRE_MS"],
        kind: Count,
        default: "30000",
        scope: Setup,
    };
    /// An idle pooled connection is closed after this many milliseconds.
    IDLE_TIMEOUT_MS = {
        option: Some("idleTimeoutMs"),
        env: ["DB_POOL_IDLE_MS"],
        kind: Count,
        default: "10000",
        scope: Setup,
    };
    /// IANA timezone of the daily and monthly budget periods.
    TIMEZONE = {
        option: Some("timezone"),
        env: ["PSPAS_TIMEZONE"],
        kind: Text,
        default: "UTC",
        scope: Setup,
    };
    /// Refuse calls over budget; `false` for the original's count-only behaviour.
    ENFORCE_BUDGETS = {
        option: Some("enforceBudgets"),
        env: ["PSPAS_ENFORCE_BUDGETS"],
        kind: Switch,
        default: "true",
        scope: Setup,
    };
    /// Cache unwrapped AES data keys in memory (an RSA unwrap costs about a millisecond).
    KEY_CACHE = {
        option: Some("keyCache"),
        env: ["PSPAS_KEY_CACHE"],
        kind: Switch,
        default: "true",
        scope: Setup,
    };
    /// At most this many cached data keys.
    KEY_CACHE_MAX_ENTRIES = {
        option: Some("keyCacheMaxEntries"),
        env: ["PSPAS_KEY_CACHE_MAX_ENTRIES"],
        kind: Count,
        default: "1000",
        scope: Setup,
    };
    /// A cached data key lives at most this many milliseconds.
    KEY_CACHE_MAX_AGE_MS = {
        option: Some("keyCacheMaxAgeMs"),
        env: ["PSPAS_KEY_CACHE_MAX_AGE_MS"],
        kind: Count,
        default: "600000",
        scope: Setup,
    };
    /// PostgreSQL is reached through a connection pooler in transaction mode (PgBouncer,
    /// Supabase, Neon): no named prepared statements. `?pgbouncer=true` on the URL does the
    /// same.
    PGBOUNCER = {
        option: Some("pgbouncer"),
        env: ["PSPAS_PGBOUNCER"],
        kind: Switch,
        default: "false",
        scope: Setup,
    };
    /// Send concurrent calls on one key as one statement counting their sum (PostgreSQL). A
    /// batch that is not granted without a budget event is decided call by call, so budgets
    /// and events behave exactly as without it.
    COALESCE = {
        option: Some("coalesce"),
        env: ["PSPAS_COALESCE"],
        kind: Switch,
        default: "true",
        scope: Setup,
    };
    /// Send concurrent calls on different keys as one statement and one commit (PostgreSQL):
    /// while statements are in flight, the calls that wait meanwhile go together, each locked
    /// in ascending group order and decided as it would be alone; a call the batch cannot
    /// decide without a budget event is decided on its own.
    CROSS_KEY_BATCHING = {
        option: Some("crossKeyBatching"),
        env: ["PSPAS_CROSS_KEY_BATCHING"],
        kind: Switch,
        default: "true",
        scope: Setup,
    };
    /// Cross-key statements in flight before calls on other keys wait to go together (1 to the
    /// pool's size): a call finding fewer in flight is sent at once, alone; the calls that
    /// wait meanwhile leave as one batch when one finishes. 1 measured best on 2 cores
    /// (docs/benchmarks.md).
    CROSS_KEY_STATEMENTS = {
        option: Some("crossKeyStatements"),
        env: ["PSPAS_CROSS_KEY_STATEMENTS"],
        kind: Count,
        default: "1",
        scope: Setup,
    };
    /// How long a `requestId` is remembered: a repeat within this many milliseconds counts
    /// nothing and serves the key the first call served; after it the id counts afresh.
    REQUEST_RETENTION_MS = {
        option: Some("requestRetentionMs"),
        env: ["PSPAS_REQUEST_RETENTION_MS"],
        kind: Count,
        default: "86400000",
        scope: Setup,
    };
    /// How long a reservation holds budget when `reserveUsageAndGetApiKey` is given no `ttlMs`:
    /// a hold stops counting after this many milliseconds (1 to 2592000000, 30 days), so a
    /// crashed caller never pins a budget; settling it later still charges.
    RESERVATION_TTL_MS = {
        option: Some("reservationTtlMs"),
        env: ["PSPAS_RESERVATION_TTL_MS"],
        kind: Count,
        default: "600000",
        scope: Setup,
    };
    /// How long an acked budget event stays in the outbox (`ps_private_access_events`) before a
    /// claim prunes it, in milliseconds. Pending and parked events are never pruned.
    EVENT_RETENTION_MS = {
        option: Some("eventRetentionMs"),
        env: ["PSPAS_EVENT_RETENTION_MS"],
        kind: Count,
        default: "604800000",
        scope: Setup,
    };
    /// How many times a budget event may be claimed without an ack before it is parked (kept
    /// and shown by `ps-access-store events`, retried by `events retry`): 1 to 1000.
    /// `claimBudgetEvents({ maxAttempts })` and `startBudgetNotifier({ maxAttempts })`
    /// override it.
    EVENT_MAX_ATTEMPTS = {
        option: Some("eventMaxAttempts"),
        env: ["PSPAS_EVENT_MAX_ATTEMPTS"],
        kind: Count,
        default: "5",
        scope: Setup,
    };
    /// Group-bound keys (see docs/security.md): `off` stores keys as the original does; `on`
    /// binds each key added with `addPreEncryptedKey` to its group when the private key is
    /// configured (its data key rewrapped with the group in the RSA-OAEP label), so a copy
    /// stored in another group never opens; `required` also refuses keys that are not bound
    /// (`PSPAS_UNBOUND_KEY`), once `ps-access-store bind` has bound the stored ones. Bound keys
    /// open in every mode; the original model cannot open them.
    GROUP_BINDING = {
        option: Some("groupBinding"),
        env: ["PSPAS_GROUP_BINDING"],
        kind: Text,
        default: "off",
        scope: Setup,
    };
    /// `true`: when the addon loads, mark the whole process as not dumpable (Linux
    /// `prctl(PR_SET_DUMPABLE, 0)`), so a crash writes no core file holding cached data keys or
    /// parsed RSA keys; it also stops other non-root processes of the same user from attaching
    /// a debugger. `getDiagnostics().coreDumpsExcluded` tells whether it holds.
    NO_CORE_DUMPS = {
        option: None,
        env: ["PSPAS_NO_CORE_DUMPS"],
        kind: Switch,
        default: "false",
        scope: Process,
    };
    /// Worker threads of the addon's async runtime (read once, when the addon loads).
    WORKER_THREADS = {
        option: None,
        env: ["PSPAS_WORKER_THREADS"],
        kind: Count,
        default: "1",
        scope: Process,
    };
}

/** Explicit set-up; every option left out (or `null`) falls back to the environment. */
export interface PsPrivateAccessStoreOptions {
    /**
     * `postgres://…`, `postgresql://…` or `sqlite:path`; overrides every other database variable and
     * is honoured in every `NODE_ENV`. Outside production TLS is off unless the URL names an
     * `sslmode` (as node-postgres under PolicySynth's Sequelize). Several servers, as libpq reads
     * them (`postgres://u@h1:5432,h2:5433/db`), are tried in order for the first writable one
     * (`target_session_attrs`, `read-write` by default with several), and looked for again when a
     * server refuses writes or cannot be reached. Environment: `DATABASE_URL`.
     */
    databaseUrl?: string | null;
    /**
     * The SQLite file used when no PostgreSQL is configured (the embedded default). Environment:
     * `PSPAS_SQLITE_PATH`; default `ps_private_access_store.sqlite`.
     */
    sqlitePath?: string | null;
    /**
     * PEM of the RSA public key, SPKI (`BEGIN PUBLIC KEY`) or PKCS#1, used by `encryptApiKey`;
     * literal `\n` as written in `.env` files is accepted. Environment:
     * `RSA_API_ENCRYPTION_PUBLIC_KEY`.
     */
    publicKey?: string | null;
    /**
     * PEM of the RSA private key, PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`);
     * literal `\n` as written in `.env` files is accepted. Environment:
     * `RSA_API_ENCRYPTION_PRIVATE_KEY`.
     */
    privateKey?: string | null;
    /**
     * Earlier RSA private keys during a key rotation, PEMs one after another (newlines, `\n` escapes
     * or commas between them), tried in order after the current key, so agents keep working while
     * `rotateKeys()` rewraps the rows; drop them once `verifyKeys()` reports every row opens with the
     * current key. Environment: `RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS`.
     */
    previousPrivateKeys?: string | null;
    /**
     * Connections the pool opens at most. Environment: `DB_POOL_MAX`; default `5`.
     */
    poolMax?: number | null;
    /**
     * Connections the pool keeps open (at most `poolMax`). Environment: `DB_POOL_MIN`; default `5`.
     */
    poolMin?: number | null;
    /**
     * How long a call waits for a pooled connection, in milliseconds. Environment:
     * `DB_POOL_ACQUIRE_MS`; default `30000`.
     */
    acquireTimeoutMs?: number | null;
    /**
     * An idle pooled connection is closed after this many milliseconds. Environment:
     * `DB_POOL_IDLE_MS`; default `10000`.
     */
    idleTimeoutMs?: number | null;
    /**
     * IANA timezone of the daily and monthly budget periods. Environment: `PSPAS_TIMEZONE`; default
     * `UTC`.
     */
    timezone?: string | null;
    /**
     * Refuse calls over budget; `false` for the original's count-only behaviour. Environment:
     * `PSPAS_ENFORCE_BUDGETS`; default `true`.
     */
    enforceBudgets?: boolean | null;
    /**
     * Cache unwrapped AES data keys in memory (an RSA unwrap costs about a millisecond). Environment:
     * `PSPAS_KEY_CACHE`; default `true`.
     */
    keyCache?: boolean | null;
    /**
     * At most this many cached data keys. Environment: `PSPAS_KEY_CACHE_MAX_ENTRIES`; default `1000`.
     */
    keyCacheMaxEntries?: number | null;
    /**
     * A cached data key lives at most this many milliseconds. Environment:
     * `PSPAS_KEY_CACHE_MAX_AGE_MS`; default `600000`.
     */
    keyCacheMaxAgeMs?: number | null;
    /**
     * PostgreSQL is reached through a connection pooler in transaction mode (PgBouncer, Supabase,
     * Neon): no named prepared statements. `?pgbouncer=true` on the URL does the same. Environment:
     * `PSPAS_PGBOUNCER`; default `false`.
     */
    pgbouncer?: boolean | null;
    /**
     * Send concurrent calls on one key as one statement counting their sum (PostgreSQL). A batch that
     * is not granted without a budget event is decided call by call, so budgets and events behave
     * exactly as without it. Environment: `PSPAS_COALESCE`; default `true`.
     */
    coalesce?: boolean | null;
    /**
     * Send concurrent calls on different keys as one statement and one commit (PostgreSQL): while
     * statements are in flight, the calls that wait meanwhile go together, each locked in ascending
     * group order and decided as it would be alone; a call the batch cannot decide without a budget
     * event is decided on its own. Environment: `PSPAS_CROSS_KEY_BATCHING`; default `true`.
     */
    crossKeyBatching?: boolean | null;
    /**
     * Cross-key statements in flight before calls on other keys wait to go together (1 to the pool's
     * size): a call finding fewer in flight is sent at once, alone; the calls that wait meanwhile
     * leave as one batch when one finishes. 1 measured best on 2 cores (docs/benchmarks.md).
     * Environment: `PSPAS_CROSS_KEY_STATEMENTS`; default `1`.
     */
    crossKeyStatements?: number | null;
    /**
     * How long a `requestId` is remembered: a repeat within this many milliseconds counts nothing and
     * serves the key the first call served; after it the id counts afresh. Environment:
     * `PSPAS_REQUEST_RETENTION_MS`; default `86400000`.
     */
    requestRetentionMs?: number | null;
    /**
     * How long a reservation holds budget when `reserveUsageAndGetApiKey` is given no `ttlMs`: a hold
     * stops counting after this many milliseconds (1 to 2592000000, 30 days), so a crashed caller
     * never pins a budget; settling it later still charges. Environment: `PSPAS_RESERVATION_TTL_MS`;
     * default `600000`.
     */
    reservationTtlMs?: number | null;
    /**
     * How long an acked budget event stays in the outbox (`ps_private_access_events`) before a claim
     * prunes it, in milliseconds. Pending and parked events are never pruned. Environment:
     * `PSPAS_EVENT_RETENTION_MS`; default `604800000`.
     */
    eventRetentionMs?: number | null;
    /**
     * How many times a budget event may be claimed without an ack before it is parked (kept and shown
     * by `ps-access-store events`, retried by `events retry`): 1 to 1000. `claimBudgetEvents({
     * maxAttempts })` and `startBudgetNotifier({ maxAttempts })` override it. Environment:
     * `PSPAS_EVENT_MAX_ATTEMPTS`; default `5`.
     */
    eventMaxAttempts?: number | null;
    /**
     * Group-bound keys (see docs/security.md): `off` stores keys as the original does; `on` binds
     * each key added with `addPreEncryptedKey` to its group when the private key is configured (its
     * data key rewrapped with the group in the RSA-OAEP label), so a copy stored in another group
     * never opens; `required` also refuses keys that are not bound (`PSPAS_UNBOUND_KEY`), once
     * `ps-access-store bind` has bound the stored ones. Bound keys open in every mode; the original
     * model cannot open them. Environment: `PSPAS_GROUP_BINDING`; default `off`.
     */
    groupBinding?: string | null;
}
/** One setting as the JS entry uses it. */
export interface SettingRow {
    /** The `configure()` option, or `null` for a variable only. */
    readonly option: keyof PsPrivateAccessStoreOptions | null;
    /** The environment variables, the first set one wins. */
    readonly env: readonly string[];
    readonly type: 'string' | 'number' | 'boolean';
    /** `setup`: names a database set-up; `call`: read at each call; `process`: read at load. */
    readonly scope: 'setup' | 'call' | 'process';
}
/** Every setting, in the order the docs list them. */
export declare const SETTINGS: readonly SettingRow[];

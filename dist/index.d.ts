/**
 * `@policysynth/private-access-store`: the package's public entry.
 *
 * A thin layer over the generated native loader (`native.js`), loaded in the caller's realm:
 * under jest every test file evaluates it again in its own context, so it reads that file's
 * `process.env`, throws that file's `Error`s, warns on its `console`, builds its `Date`s and
 * records and keeps its budget-event listeners. The native addon (loaded once per process)
 * does the work: crypto, storage, budgets. What crosses is typed values only; argument types
 * are checked here, values in the Rust core.
 *
 * @packageDocumentation
 */
/** Budget limits and notification thresholds of a key, as PolicySynth documents them. */
export interface PsPrivateAccessStoreConfiguration {
    /** Limits per day, per month (`petMonth`, PolicySynth's spelling) and in total. */
    maxBudget: {
        perDay: number;
        petMonth: number;
        total: number;
    };
    /**
     * When to emit a `dailyThreshold` / `monthlyThreshold` budget event: a value of at most 1 is
     * a fraction of the limit (`0.8` with `perDay: 1000` fires at 800), a larger value is an
     * amount (`800` fires at 800).
     */
    emailNotificationBudgetThresholds: {
        daily: number;
        monthly: number;
    };
}
/** Usage counters of a key in the current day and month, and in total. */
export interface PsPrivateAccessStoreUsage {
    dailyUse: number;
    monthlyUse: number;
    totalUse: number;
}
/** Filters of `getApiKeys`: absent or `undefined` adds none, `null` matches SQL `NULL`. */
export interface GetApiKeysOptions {
    aiModelId?: number | null;
    externalApiId?: number | null;
    isActive?: boolean | null;
}
/**
 * Options of `incrementUsageAndGetApiKey`: the filters plus `incrementAmount` (default 1).
 * `isActive` is accepted and ignored: only active keys are ever served.
 */
export interface IncrementUsageOptions extends GetApiKeysOptions {
    incrementAmount?: number;
}
/** Minimal shape of the associated PolicySynth group (never loaded by this package). */
export interface YpGroupData {
    id: number;
    name?: string;
}
/** Minimal shape of the associated PolicySynth user (never loaded by this package). */
export interface YpUserData {
    id: number;
    name?: string;
    email?: string;
}
/** The kinds of budget event. */
export type PsBudgetEventKind = 'dailyThreshold' | 'monthlyThreshold' | 'dailyLimit' | 'monthlyLimit' | 'totalLimit';
/**
 * A budget event: a threshold crossed by a granted call, or the first refusal of a key in a
 * period. Emitted exactly once per key, period and kind across all processes, to the
 * listeners registered where the call that caused it was made.
 */
export interface PsBudgetEvent {
    keyId: number;
    groupId: number;
    aiModelId: number | null;
    externalApiId: number | null;
    kind: PsBudgetEventKind;
    /** The counter after the granted call (thresholds) or before the refused one (limits). */
    used: number;
    /** The budget limit of that counter (`maxBudget.perDay`, `.petMonth` or `.total`). */
    limit: number;
    /** Start of the day or month the event belongs to; `null` for the total budget. */
    periodStart: Date | null;
}
/** One budget period of a key: `limit` and `remaining` are `null` when there is no limit. */
export interface PsBudgetPeriodStatus {
    used: number;
    limit: number | null;
    remaining: number | null;
    /** Start of the current day or month (configured timezone); `null` for the total. */
    periodStart: Date | null;
}
/** Where a key stands against its budgets now: tells "over budget" from "no key". */
export interface PsBudgetStatus {
    id: number;
    isActive: boolean;
    /** Whether budgets are enforced (see `configure({ enforceBudgets })`). */
    enforced: boolean;
    daily: PsBudgetPeriodStatus;
    monthly: PsBudgetPeriodStatus;
    total: PsBudgetPeriodStatus;
}
/** Explicit set-up; every option left out (or `null`) falls back to the environment. */
export interface PsPrivateAccessStoreOptions {
    /** `postgres://…`, `postgresql://…` or `sqlite:path`. Overrides every database variable. */
    databaseUrl?: string | null;
    /** SQLite file used when no PostgreSQL is configured (default `PSPAS_SQLITE_PATH`). */
    sqlitePath?: string | null;
    /** RSA public key PEM (SPKI or PKCS#1); default `RSA_API_ENCRYPTION_PUBLIC_KEY`. */
    publicKey?: string | null;
    /** RSA private key PEM (PKCS#8 or PKCS#1); default `RSA_API_ENCRYPTION_PRIVATE_KEY`. */
    privateKey?: string | null;
    /**
     * Earlier RSA private keys, PEMs one after another (default
     * `RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS`). Decryption tries them in order after
     * `privateKey`, so agents keep working while `rotateKeys()` rewraps the rows; drop them once
     * `verifyKeys()` reports every row opens with the current key.
     */
    previousPrivateKeys?: string | null;
    /** Pool size (default `DB_POOL_MAX`, 5). */
    poolMax?: number | null;
    /** Connections kept open (default `DB_POOL_MIN`, 5). */
    poolMin?: number | null;
    /** Pool acquire timeout (default `DB_POOL_ACQUIRE_MS`, 30000). */
    acquireTimeoutMs?: number | null;
    /** Idle connection timeout (default `DB_POOL_IDLE_MS`, 10000). */
    idleTimeoutMs?: number | null;
    /** IANA timezone of the daily and monthly budget periods (default `PSPAS_TIMEZONE`, UTC). */
    timezone?: string | null;
    /** Refuse calls over budget (default `PSPAS_ENFORCE_BUDGETS`, else `true`). */
    enforceBudgets?: boolean | null;
    /** Cache unwrapped AES data keys in memory (default `PSPAS_KEY_CACHE`, else `true`). */
    keyCache?: boolean | null;
    /** At most this many cached data keys (default `PSPAS_KEY_CACHE_MAX_ENTRIES`, 1000). */
    keyCacheMaxEntries?: number | null;
    /** A cached data key lives at most this long (default `PSPAS_KEY_CACHE_MAX_AGE_MS`, 600000). */
    keyCacheMaxAgeMs?: number | null;
    /**
     * PostgreSQL is reached through a connection pooler in transaction mode (PgBouncer,
     * Supabase, Neon): use no named prepared statements (default `PSPAS_PGBOUNCER`, or
     * `?pgbouncer=true` on the URL, else `false`).
     */
    pgbouncer?: boolean | null;
    /**
     * Send concurrent calls on one key as one statement counting their sum (default
     * `PSPAS_COALESCE`, else `true`; PostgreSQL). A batch that is not granted without a budget
     * event is decided call by call, so budgets and events behave exactly as without it.
     */
    coalesce?: boolean | null;
}
/** Progress of `rotateKeys()` / `verifyKeys()`, reported after every batch. */
export interface PsKeyBatchProgress {
    /** Rows processed so far. */
    done: number;
    /** Rows stored when the run started (rows added meanwhile are processed too). */
    total: number;
}
/** Options of `rotateKeys()` and `verifyKeys()`. */
export interface PsKeyBatchOptions {
    /** Rows per batch (1–10000, default 100): one short transaction each in `rotateKeys()`. */
    batchSize?: number;
    /** Called after every batch. A listener that throws stops the run (rows done stay done). */
    onProgress?: (progress: PsKeyBatchProgress) => void;
}
/** Options of `rotateKeys()`. */
export interface PsKeyRotationOptions extends PsKeyBatchOptions {
    /**
     * The public key PEM rows are rewrapped to. It must be the public half of the current
     * private key (`privateKey` / `RSA_API_ENCRYPTION_PRIVATE_KEY`), which is used when this is
     * left out; a key the deployment could not open is refused (`PSPAS_CONFIG`).
     */
    newPublicKey?: string;
}
/** The outcome of `rotateKeys()`. */
export interface PsKeyRotationResult {
    /** Rows processed. */
    total: number;
    /** Rows rewrapped from a previous key to the current one. */
    rotated: number;
    /** Rows already under the current key (skipped: a re-run rewraps nothing twice). */
    alreadyCurrent: number;
    /** Ids of rows no configured key opens (left untouched). */
    cannotOpen: number[];
    /** Rows whose data key changed while their batch was being rewrapped (run again). */
    changedMeanwhile: number;
    seconds: number;
}
/** The outcome of `verifyKeys()`. */
export interface PsKeyVerificationResult {
    total: number;
    /** Rows the current private key opens. */
    ok: number;
    /** Rows only a previous private key opens (not rotated yet). */
    previousKey: number;
    /** Ids of rows no configured key opens. */
    cannotOpen: number[];
}
/** The stable codes carried by every error's `err.code`. */
export type PsPrivateAccessStoreErrorCode = 'PSPAS_MISSING_PUBLIC_KEY' | 'PSPAS_MISSING_PRIVATE_KEY' | 'PSPAS_INVALID_RSA_KEY' | 'PSPAS_INVALID_FORMAT' | 'PSPAS_EMPTY_API_KEY' | 'PSPAS_DECRYPT_FAILED' | 'PSPAS_INVALID_ARGUMENT' | 'PSPAS_INVALID_CONFIGURATION' | 'PSPAS_CONFIG' | 'PSPAS_DB_UNAVAILABLE' | 'PSPAS_DB_ERROR' | 'PSPAS_DB_OUTCOME_UNKNOWN' | 'PSPAS_NOT_ALLOWED' | 'PSPAS_NATIVE_BINDING_MISSING' | 'PSPAS_INTERNAL';
/**
 * Every error this package throws or rejects with: an `Error` of the caller's realm whose
 * `message` is the original's sentence where it had one, and whose `code` is stable.
 */
export declare class PsPrivateAccessStoreError extends Error {
    readonly code: PsPrivateAccessStoreErrorCode;
    constructor(code: PsPrivateAccessStoreErrorCode, message: string, options?: {
        cause?: unknown;
    });
}
/** The documented snake_case attributes of a record (NULL columns are `null`). */
export interface PsPrivateAccessStoreAttributes {
    id: number;
    group_id: number;
    user_id: number;
    ai_model_id: number | null;
    external_api_id: number | null;
    encrypted_api_key: string;
    encrypted_aes_key: string;
    configuration: PsPrivateAccessStoreConfiguration;
    usage: PsPrivateAccessStoreUsage;
    created_at: Date | null;
    updated_at: Date | null;
    last_used_at: Date | null;
    is_active: boolean;
}
/**
 * Customers' API keys, envelope-encrypted at rest, scoped to groups and metered per use.
 *
 * Instances are records of `ps_private_access_store` with the documented snake_case
 * attributes (read like a Sequelize instance's; NULL columns read as `null`); they never hold
 * a plaintext key. All operations are static.
 */
export declare class PsPrivateAccessStore {
    /** The record's attribute values, as on a Sequelize instance. */
    readonly dataValues: Readonly<PsPrivateAccessStoreAttributes>;
    /** @internal Records are made by the store's methods. */
    constructor(values: PsPrivateAccessStoreAttributes);
    /** Primary key. */
    get id(): number;
    /** ID of the group this key is associated with. */
    get group_id(): number;
    /** ID of the user who added the key. */
    get user_id(): number;
    /** Optional: ID of the AI model this key is for. */
    get ai_model_id(): number | undefined;
    /** Optional: ID of the external API this key is for. */
    get external_api_id(): number | undefined;
    /** The API key, AES-256-GCM encrypted: `hex(iv):hex(tag):hex(ciphertext)`. */
    get encrypted_api_key(): string;
    /** The AES key, RSA-OAEP encrypted, base64. */
    get encrypted_aes_key(): string;
    /** Budget and notification thresholds, as stored. */
    get configuration(): PsPrivateAccessStoreConfiguration;
    /** Usage counters of the current day and month, and in total. */
    get usage(): PsPrivateAccessStoreUsage;
    /** Creation timestamp. */
    get created_at(): Date;
    /** Last update timestamp. */
    get updated_at(): Date;
    /** Last time this key was used. */
    get last_used_at(): Date | undefined;
    /** Whether this key is currently active. */
    get is_active(): boolean;
    /** (Association) The group; not loaded by this package, always `undefined`. */
    get Group(): YpGroupData | undefined;
    /** (Association) The user; not loaded by this package, always `undefined`. */
    get User(): YpUserData | undefined;
    /** One attribute, or (no argument, or `{ plain: true }`) all of them as a plain object. */
    get(key?: keyof PsPrivateAccessStoreAttributes | {
        plain?: boolean;
    }): unknown;
    /** The record's attributes as a plain object (what `JSON.stringify` uses). */
    toJSON(): PsPrivateAccessStoreAttributes;
    /**
     * Set up explicitly (database URL, PEM keys, pool, budgets, cache). Options left out come
     * from the environment; no argument returns to the environment alone. Unknown option names
     * and bad values throw here (`PSPAS_CONFIG`), naming the option, never its value.
     */
    static configure(options?: PsPrivateAccessStoreOptions | null): void;
    /** Close the database pools this caller opened; the next call reconnects. */
    static close(): Promise<void>;
    /**
     * Encrypts an API key using AES-256-GCM with a random key, and encrypts that key with the
     * RSA public key (`RSA_API_ENCRYPTION_PUBLIC_KEY`). Synchronous, as in the original.
     */
    static encryptApiKey(apiKey: string): {
        encryptedApiKey: string;
        encryptedAesKey: string;
    };
    /**
     * Decrypts an API key with the RSA private key (`RSA_API_ENCRYPTION_PRIVATE_KEY`).
     * Synchronous, as in the original.
     */
    static decryptApiKey(encryptedApiKey: string, encryptedAesKey: string): string;
    /**
     * Adds a new pre-encrypted API key to the store (usage zero, active). Rejects with
     * `Invalid encrypted key format` unless `encryptedApiKey` is three `:`-separated hex parts
     * and `encryptedAesKey` canonical base64; nothing is written then.
     */
    static addPreEncryptedKey(groupId: number, userId: number, aiModelId: number | undefined, externalApiId: number | undefined, encryptedApiKey: string, encryptedAesKey: string, configuration: PsPrivateAccessStoreConfiguration): Promise<PsPrivateAccessStore>;
    /**
     * Retrieves the group's keys (encrypted), optionally filtered, ordered
     * `is_active DESC, id ASC`.
     */
    static getApiKeys(groupId: number, options?: GetApiKeysOptions): Promise<PsPrivateAccessStore[]>;
    /**
     * Atomically adds `incrementAmount` (default 1) to the usage of the group's first active
     * matching key with budget room and returns that key decrypted; `null` when there is none
     * (see `getBudgetStatus` for why). A key that cannot be decrypted rejects and counts
     * nothing.
     */
    static incrementUsageAndGetApiKey(groupId: number, options?: IncrementUsageOptions): Promise<string | null>;
    /** Sets the active status of a key; `true` if a row was updated. */
    static setKeyStatus(id: number, isActive: boolean): Promise<boolean>;
    /** The usage counters of a key (current day and month, and total), or `null`. */
    static getUsage(id: number): Promise<PsPrivateAccessStoreUsage | null>;
    /**
     * Where a key stands against its budgets now (per period: used, limit, remaining, period
     * start), and whether it is active: tells "over budget" from "no key". `null` for an
     * unknown id.
     */
    static getBudgetStatus(id: number): Promise<PsBudgetStatus | null>;
    /**
     * Subscribe to budget events (thresholds crossed, first refusals per period) caused by
     * calls made here. Returns the function that unsubscribes. A listener that throws is
     * reported with `process.emitWarning` and affects nothing else.
     */
    /** Open the store now and create the table if it is missing (what the first call does). */
    static migrate(): Promise<void>;
    /**
     * Rewrap every row's data key (`encrypted_aes_key`) from the previous private keys
     * (`previousPrivateKeys` / `RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS`) to the current key
     * pair, in batches, each written in one short transaction with its rows locked and only
     * after the new wrapping was checked to open with the current private key. API-key
     * ciphertexts are never touched. Resumable and idempotent: rows already under the current
     * key are recognised and skipped, so an interrupted run is completed by running it again.
     * Agents keep working throughout (they decrypt with the current key, then the previous
     * ones).
     */
    static rotateKeys(options?: PsKeyRotationOptions): Promise<PsKeyRotationResult>;
    /**
     * Check that every row's data key opens: with the current private key (`ok`), only with a
     * previous one (`previousKey`), or with none (`cannotOpen`, by id). Reads only; never
     * returns or logs a secret.
     */
    static verifyKeys(options?: PsKeyBatchOptions): Promise<PsKeyVerificationResult>;
    static onBudgetEvent(listener: (event: PsBudgetEvent) => void): () => void;
    /** Checks that an encrypted API key is three `:`-separated hex parts (the original's check). */
    private static isValidEncryptedFormat;
    /** Checks that a string is non-empty hexadecimal. */
    private static isValidHex;
    /** Checks that a string is canonical standard base64. */
    private static isValidBase64;
    /** Blocked, as in the original: warns and rejects. Use `incrementUsageAndGetApiKey`. */
    static findAll(..._args: unknown[]): Promise<never>;
    /** Blocked, as in the original: warns and rejects. Use `incrementUsageAndGetApiKey`. */
    static findOne(..._args: unknown[]): Promise<never>;
    /** Blocked, as in the original: warns and rejects. Use `incrementUsageAndGetApiKey`. */
    static findByPk(..._args: unknown[]): Promise<never>;
}

"use strict";
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
Object.defineProperty(exports, "__esModule", { value: true });
exports.PsPrivateAccessStore = exports.PsPrivateAccessStoreError = void 0;
const os = require("node:os");
/**
 * Every error this package throws or rejects with: an `Error` of the caller's realm whose
 * `message` is the original's sentence where it had one, and whose `code` is stable.
 */
class PsPrivateAccessStoreError extends Error {
    code;
    constructor(code, message, options) {
        super(message, options);
        this.code = code;
    }
}
exports.PsPrivateAccessStoreError = PsPrivateAccessStoreError;
// ---------------------------------------------------------------------------------------------
// The native addon, errors
/** The platform triple napi-rs names its packages by (`linux-x64-gnu`, `darwin-arm64`, …). */
function platformTriple() {
    const { platform, arch } = process;
    if (platform === 'linux') {
        const report = process.report?.getReport();
        return `linux-${arch}-${report?.header?.glibcVersionRuntime ? 'gnu' : 'musl'}`;
    }
    if (platform === 'win32')
        return `win32-${arch}-msvc`;
    return `${platform}-${arch}`;
}
/** The generated loader, or one clear error naming the platform, the package and the remedies. */
function loadNative() {
    try {
        return require('../native.js');
    }
    catch (cause) {
        const triple = platformTriple();
        throw new PsPrivateAccessStoreError('PSPAS_NATIVE_BINDING_MISSING', `@policysynth/private-access-store has no native binary for this platform (${triple}): ` +
            `expected the optional dependency @policysynth/private-access-store-${triple} ` +
            `(or private-access-store.${triple}.node beside the package). ` +
            'Install again with optional dependencies included (npm install, without --omit=optional ' +
            'or --no-optional, on the machine that runs the code), or build it from source in the ' +
            'package folder with `npm run build` (needs Rust >= 1.94).', { cause });
    }
}
const native = loadNative();
const CODED = /^(PSPAS_[A-Z_]+): ([\s\S]*)$/;
/** The one conversion of a native failure into an error of the caller's realm. */
function convertError(e) {
    if (e instanceof PsPrivateAccessStoreError)
        return e;
    const text = typeof e === 'object' && e !== null && typeof e.message === 'string'
        ? e.message
        : String(e);
    const m = CODED.exec(text);
    return m
        ? new PsPrivateAccessStoreError(m[1], m[2])
        : new PsPrivateAccessStoreError('PSPAS_INTERNAL', text);
}
/** Run a synchronous native call, converting what it throws. */
function sync(f) {
    try {
        return f();
    }
    catch (e) {
        throw convertError(e);
    }
}
/** Await a native promise, converting its rejection. */
async function settle(p) {
    try {
        return await p;
    }
    catch (e) {
        throw convertError(e);
    }
}
/** `rotateKeys()` / `verifyKeys()` options, checked. */
function batchOptions(options) {
    const o = optionsObject(options);
    const batchSize = o.batchSize === undefined ? 100 : number(o.batchSize, 'batchSize');
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10000) {
        throw invalid('batchSize must be an integer from 1 to 10000');
    }
    if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
        throw invalid('onProgress must be a function');
    }
    return { batchSize, onProgress: o.onProgress ?? null };
}
/** Run `batch` over the table in id order until no rows are left, reporting progress. */
async function eachBatch(o, batch) {
    const store = currentStore();
    const total = await settle(store.countKeys());
    let after = 0;
    let done = 0;
    for (;;) {
        let r;
        try {
            r = await batch(store, after);
        }
        catch (e) {
            throw convertError(e);
        }
        if (r.lastId === null)
            return;
        after = r.lastId;
        done += r.rows;
        if (o.onProgress !== null)
            o.onProgress({ done, total: Math.max(total, done) });
    }
}
function invalid(message) {
    return new PsPrivateAccessStoreError('PSPAS_INVALID_ARGUMENT', message);
}
function number(v, name) {
    if (typeof v !== 'number')
        throw invalid(`${name} must be a number`);
    return v;
}
function string(v, name) {
    if (typeof v !== 'string')
        throw invalid(`${name} must be a string`);
    return v;
}
/** `undefined` (no filter), `null` (SQL NULL) or a number. */
function optionalId(v, name) {
    if (v === undefined || v === null)
        return v;
    return number(v, name);
}
function optionsObject(v) {
    if (v === undefined || v === null)
        return {};
    if (typeof v !== 'object')
        throw invalid('options must be an object');
    return v;
}
function filterOf(o) {
    const isActive = o.isActive;
    if (isActive !== undefined && isActive !== null && typeof isActive !== 'boolean') {
        throw invalid('isActive must be a boolean');
    }
    return {
        aiModelId: optionalId(o.aiModelId, 'aiModelId'),
        externalApiId: optionalId(o.externalApiId, 'externalApiId'),
        isActive,
    };
}
// ---------------------------------------------------------------------------------------------
// Set-up: configure() options and the caller's process.env
/** The variables that name the database set-up (read from the caller's `process.env`). */
const SETUP_VARIABLES = [
    'NODE_ENV',
    'DATABASE_URL',
    'DISABLE_PG_SSL',
    'PSQL_DB_NAME',
    'PSQL_DB_USER',
    'PSQL_DB_PASS',
    'YP_DEV_DATABASE_NAME',
    'YP_DEV_DATABASE_USERNAME',
    'YP_DEV_DATABASE_PASSWORD',
    'DB_HOST',
    'DB_PORT',
    'PGUSER',
    'DB_POOL_MAX',
    'DB_POOL_MIN',
    'DB_POOL_ACQUIRE_MS',
    'DB_POOL_IDLE_MS',
    'PSPAS_SQLITE_PATH',
    'PSPAS_TIMEZONE',
    'PSPAS_ENFORCE_BUDGETS',
    'PSPAS_KEY_CACHE',
    'PSPAS_KEY_CACHE_MAX_ENTRIES',
    'PSPAS_KEY_CACHE_MAX_AGE_MS',
    'PSPAS_PGBOUNCER',
    'PSPAS_COALESCE',
];
const OPTION_TYPES = {
    databaseUrl: 'string',
    sqlitePath: 'string',
    publicKey: 'string',
    privateKey: 'string',
    previousPrivateKeys: 'string',
    poolMax: 'number',
    poolMin: 'number',
    acquireTimeoutMs: 'number',
    idleTimeoutMs: 'number',
    timezone: 'string',
    enforceBudgets: 'boolean',
    keyCache: 'boolean',
    keyCacheMaxEntries: 'number',
    keyCacheMaxAgeMs: 'number',
    pgbouncer: 'boolean',
    coalesce: 'boolean',
};
/** This realm's set-up: configured options and the native handles opened for it. */
const state = {
    publicKey: undefined,
    privateKey: undefined,
    previousPrivateKeys: undefined,
    native: {},
    /** Handles by the values of `SETUP_VARIABLES` they were opened for. */
    handles: new Map(),
    /** The last handle and the variable values it was found for (the common case: unchanged). */
    last: null,
    /** The private keys as last read, and their native handle (digested once, not per call). */
    privatePem: null,
    previousPems: null,
    privateHandle: null,
    listeners: new Set(),
};
let osUser;
function currentOsUser() {
    if (osUser === undefined) {
        try {
            osUser = os.userInfo().username;
        }
        catch {
            osUser = null;
        }
    }
    return osUser;
}
/** The native handle for the set-up the caller's environment names now. */
function currentStore() {
    const env = process.env;
    const last = state.last;
    if (last !== null) {
        let same = true;
        for (let i = 0; i < SETUP_VARIABLES.length; i++) {
            if (env[SETUP_VARIABLES[i]] !== last.values[i]) {
                same = false;
                break;
            }
        }
        if (same)
            return last.handle;
    }
    const values = SETUP_VARIABLES.map((name) => env[name]);
    const key = values.map((v) => (v === undefined ? '\u0001' : v + '\u0000')).join('');
    let handle = state.handles.get(key);
    if (handle === undefined) {
        const vars = {};
        for (const name of SETUP_VARIABLES) {
            const v = env[name];
            if (v !== undefined)
                vars[name] = v;
        }
        handle = sync(() => native.NativeStore.open(state.native, vars, currentOsUser()));
        state.handles.set(key, handle);
    }
    state.last = { values, handle };
    return handle;
}
function nonEmpty(v) {
    return v === undefined || v === '' ? null : v;
}
/** The public key as of now: configured, else the caller's `RSA_API_ENCRYPTION_PUBLIC_KEY`. */
function publicKeyPem() {
    return state.publicKey ?? nonEmpty(process.env.RSA_API_ENCRYPTION_PUBLIC_KEY);
}
/**
 * The private key as of now (configured, else the caller's `RSA_API_ENCRYPTION_PRIVATE_KEY`),
 * as a native handle made once per distinct PEM.
 */
function privateKey() {
    const pem = state.privateKey ?? nonEmpty(process.env.RSA_API_ENCRYPTION_PRIVATE_KEY);
    const previous = state.previousPrivateKeys ?? nonEmpty(process.env.RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS);
    if (pem !== state.privatePem || previous !== state.previousPems) {
        const configured = state.privateKey !== undefined || state.previousPrivateKeys !== undefined;
        state.privateHandle =
            pem === null ? null : sync(() => new native.NativePrivateKey(pem, configured, previous));
        state.privatePem = pem;
        state.previousPems = previous;
    }
    return state.privateHandle;
}
function closeAll() {
    const handles = [...state.handles.values()];
    state.handles.clear();
    state.last = null;
    return Promise.all(handles.map((h) => h.close())).then(() => undefined);
}
// ---------------------------------------------------------------------------------------------
// Records and events
const epoch = (ms) => (ms == null ? null : new Date(ms));
function record(raw) {
    const values = raw;
    values.created_at = epoch(raw.created_at);
    values.updated_at = epoch(raw.updated_at);
    values.last_used_at = epoch(raw.last_used_at);
    return new PsPrivateAccessStore(values);
}
function emit(eventsJson) {
    const events = JSON.parse(eventsJson);
    for (const raw of events) {
        const event = { ...raw, periodStart: epoch(raw.periodStart) };
        for (const listener of state.listeners) {
            try {
                listener(event);
            }
            catch (e) {
                process.emitWarning(`A budget event listener threw: ${e instanceof Error ? e.message : String(e)}`, { code: 'PSPAS_LISTENER_ERROR', detail: `event kind ${event.kind}, key ${event.keyId}` });
            }
        }
    }
}
function withDates(status) {
    for (const p of [status.daily, status.monthly, status.total]) {
        p.periodStart = epoch(p.periodStart);
    }
    return status;
}
/** `JSON.stringify` that keeps a non-finite budget number visible to the core's check. */
function configurationJson(configuration) {
    const c = configuration;
    const budgets = new Set([c.maxBudget, c.emailNotificationBudgetThresholds]);
    try {
        return JSON.stringify(configuration, function (_key, value) {
            return typeof value === 'number' && !Number.isFinite(value) && budgets.has(this)
                ? String(value)
                : value;
        });
    }
    catch {
        throw new PsPrivateAccessStoreError('PSPAS_INVALID_CONFIGURATION', 'Invalid configuration: configuration must be serializable as JSON');
    }
}
// ---------------------------------------------------------------------------------------------
// The class
/**
 * Customers' API keys, envelope-encrypted at rest, scoped to groups and metered per use.
 *
 * Instances are records of `ps_private_access_store` with the documented snake_case
 * attributes (read like a Sequelize instance's; NULL columns read as `null`); they never hold
 * a plaintext key. All operations are static.
 */
class PsPrivateAccessStore {
    /** The record's attribute values, as on a Sequelize instance. */
    dataValues;
    /** @internal Records are made by the store's methods. */
    constructor(values) {
        this.dataValues = values;
    }
    /** Primary key. */
    get id() {
        return this.dataValues.id;
    }
    /** ID of the group this key is associated with. */
    get group_id() {
        return this.dataValues.group_id;
    }
    /** ID of the user who added the key. */
    get user_id() {
        return this.dataValues.user_id;
    }
    /** Optional: ID of the AI model this key is for. */
    get ai_model_id() {
        return this.dataValues.ai_model_id ?? undefined;
    }
    /** Optional: ID of the external API this key is for. */
    get external_api_id() {
        return this.dataValues.external_api_id ?? undefined;
    }
    /** The API key, AES-256-GCM encrypted: `hex(iv):hex(tag):hex(ciphertext)`. */
    get encrypted_api_key() {
        return this.dataValues.encrypted_api_key;
    }
    /** The AES key, RSA-OAEP encrypted, base64. */
    get encrypted_aes_key() {
        return this.dataValues.encrypted_aes_key;
    }
    /** Budget and notification thresholds, as stored. */
    get configuration() {
        return this.dataValues.configuration;
    }
    /** Usage counters of the current day and month, and in total. */
    get usage() {
        return this.dataValues.usage;
    }
    /** Creation timestamp. */
    get created_at() {
        return this.dataValues.created_at;
    }
    /** Last update timestamp. */
    get updated_at() {
        return this.dataValues.updated_at;
    }
    /** Last time this key was used. */
    get last_used_at() {
        return this.dataValues.last_used_at ?? undefined;
    }
    /** Whether this key is currently active. */
    get is_active() {
        return this.dataValues.is_active;
    }
    /** (Association) The group; not loaded by this package, always `undefined`. */
    get Group() {
        return undefined;
    }
    /** (Association) The user; not loaded by this package, always `undefined`. */
    get User() {
        return undefined;
    }
    /** One attribute, or (no argument, or `{ plain: true }`) all of them as a plain object. */
    get(key) {
        return typeof key === 'string' ? this.dataValues[key] : this.toJSON();
    }
    /** The record's attributes as a plain object (what `JSON.stringify` uses). */
    toJSON() {
        return { ...this.dataValues };
    }
    /**
     * Set up explicitly (database URL, PEM keys, pool, budgets, cache). Options left out come
     * from the environment; no argument returns to the environment alone. Unknown option names
     * and bad values throw here (`PSPAS_CONFIG`), naming the option, never its value.
     */
    static configure(options) {
        const o = options ?? {};
        if (typeof o !== 'object') {
            throw new PsPrivateAccessStoreError('PSPAS_CONFIG', 'configure() takes an options object');
        }
        const given = {};
        for (const [name, value] of Object.entries(o)) {
            if (!Object.prototype.hasOwnProperty.call(OPTION_TYPES, name)) {
                throw new PsPrivateAccessStoreError('PSPAS_CONFIG', `Unknown option ${JSON.stringify(name)}; the options are ${Object.keys(OPTION_TYPES).join(', ')}`);
            }
            if (value === undefined || value === null)
                continue;
            const type = OPTION_TYPES[name];
            if (typeof value !== type) {
                throw new PsPrivateAccessStoreError('PSPAS_CONFIG', `${name} must be a ${type}`);
            }
            given[name] = value;
        }
        const { publicKey, privateKey, previousPrivateKeys, ...rest } = given;
        const nativeOptions = rest;
        sync(() => native.NativeStore.checkOptions(nativeOptions));
        sync(() => native.checkConfiguredKeys(publicKey ?? null, privateKey ?? null, previousPrivateKeys ?? null));
        void closeAll();
        state.publicKey = publicKey;
        state.privateKey = privateKey;
        state.previousPrivateKeys = previousPrivateKeys;
        state.privatePem = null;
        state.previousPems = null;
        state.privateHandle = null;
        state.native = nativeOptions;
    }
    /** Close the database pools this caller opened; the next call reconnects. */
    static async close() {
        await settle(closeAll());
    }
    /**
     * Encrypts an API key using AES-256-GCM with a random key, and encrypts that key with the
     * RSA public key (`RSA_API_ENCRYPTION_PUBLIC_KEY`). Synchronous, as in the original.
     */
    static encryptApiKey(apiKey) {
        const pem = publicKeyPem();
        // Without a key, the native call throws the original's sentence before reading apiKey.
        return sync(() => native.seal(pem, pem === null ? '' : string(apiKey, 'apiKey'), state.publicKey !== undefined));
    }
    /**
     * Decrypts an API key with the RSA private key (`RSA_API_ENCRYPTION_PRIVATE_KEY`).
     * Synchronous, as in the original.
     */
    static decryptApiKey(encryptedApiKey, encryptedAesKey) {
        const key = privateKey();
        return sync(() => currentStore().decrypt(key, string(encryptedApiKey, 'encryptedApiKey'), string(encryptedAesKey, 'encryptedAesKey')));
    }
    /**
     * Adds a new pre-encrypted API key to the store (usage zero, active). Rejects with
     * `Invalid encrypted key format` unless `encryptedApiKey` is three `:`-separated hex parts
     * and `encryptedAesKey` canonical base64; nothing is written then.
     */
    static async addPreEncryptedKey(groupId, userId, aiModelId, externalApiId, encryptedApiKey, encryptedAesKey, configuration) {
        number(groupId, 'groupId');
        number(userId, 'userId');
        const model = optionalId(aiModelId, 'aiModelId');
        const api = optionalId(externalApiId, 'externalApiId');
        string(encryptedApiKey, 'encryptedApiKey');
        string(encryptedAesKey, 'encryptedAesKey');
        if (typeof configuration !== 'object' || configuration === null) {
            throw new PsPrivateAccessStoreError('PSPAS_INVALID_CONFIGURATION', 'Invalid configuration: configuration must be an object');
        }
        const json = configurationJson(configuration);
        const text = await settle(currentStore().add(groupId, userId, model, api, encryptedApiKey, encryptedAesKey, json));
        return record(JSON.parse(text));
    }
    /**
     * Retrieves the group's keys (encrypted), optionally filtered, ordered
     * `is_active DESC, id ASC`.
     */
    static async getApiKeys(groupId, options) {
        number(groupId, 'groupId');
        const filter = filterOf(optionsObject(options));
        const text = await settle(currentStore().list(groupId, filter));
        return JSON.parse(text).map(record);
    }
    /**
     * Atomically adds `incrementAmount` (default 1) to the usage of the group's first active
     * matching key with budget room and returns that key decrypted; `null` when there is none
     * (see `getBudgetStatus` for why). A key that cannot be decrypted rejects and counts
     * nothing.
     */
    static async incrementUsageAndGetApiKey(groupId, options) {
        number(groupId, 'groupId');
        const o = optionsObject(options);
        const filter = filterOf(o);
        const amount = o.incrementAmount === undefined ? 1 : number(o.incrementAmount, 'incrementAmount');
        let out;
        try {
            out = await currentStore().increment(groupId, filter, amount, privateKey());
        }
        catch (e) {
            throw convertError(e);
        }
        if (out.events !== null)
            emit(out.events);
        return out.apiKey;
    }
    /** Sets the active status of a key; `true` if a row was updated. */
    static async setKeyStatus(id, isActive) {
        number(id, 'id');
        if (typeof isActive !== 'boolean')
            throw invalid('isActive must be a boolean');
        return settle(currentStore().setActive(id, isActive));
    }
    /** The usage counters of a key (current day and month, and total), or `null`. */
    static async getUsage(id) {
        number(id, 'id');
        const text = await settle(currentStore().usage(id));
        return text === null ? null : JSON.parse(text);
    }
    /**
     * Where a key stands against its budgets now (per period: used, limit, remaining, period
     * start), and whether it is active: tells "over budget" from "no key". `null` for an
     * unknown id.
     */
    static async getBudgetStatus(id) {
        number(id, 'id');
        const text = await settle(currentStore().budgetStatus(id));
        return text === null ? null : withDates(JSON.parse(text));
    }
    /**
     * Subscribe to budget events (thresholds crossed, first refusals per period) caused by
     * calls made here. Returns the function that unsubscribes. A listener that throws is
     * reported with `process.emitWarning` and affects nothing else.
     */
    /** Open the store now and create the table if it is missing (what the first call does). */
    static async migrate() {
        await settle(currentStore().migrate());
    }
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
    static async rotateKeys(options) {
        const o = batchOptions(options);
        const given = optionsObject(options).newPublicKey;
        const newPublicKey = given === undefined ? null : string(given, 'newPublicKey');
        const started = process.hrtime.bigint();
        const out = {
            total: 0,
            rotated: 0,
            alreadyCurrent: 0,
            cannotOpen: [],
            changedMeanwhile: 0,
            seconds: 0,
        };
        await eachBatch(o, async (store, after) => {
            const b = await store.rotateBatch(after, o.batchSize, privateKey(), newPublicKey);
            out.rotated += b.rotated;
            out.alreadyCurrent += b.alreadyCurrent;
            out.changedMeanwhile += b.changedMeanwhile;
            out.cannotOpen.push(...b.cannotOpen);
            const rows = b.rotated + b.alreadyCurrent + b.cannotOpen.length + b.changedMeanwhile;
            out.total += rows;
            return { lastId: b.lastId ?? null, rows };
        });
        out.seconds = Number(process.hrtime.bigint() - started) / 1e9;
        return out;
    }
    /**
     * Check that every row's data key opens: with the current private key (`ok`), only with a
     * previous one (`previousKey`), or with none (`cannotOpen`, by id). Reads only; never
     * returns or logs a secret.
     */
    static async verifyKeys(options) {
        const o = batchOptions(options);
        const out = { total: 0, ok: 0, previousKey: 0, cannotOpen: [] };
        await eachBatch(o, async (store, after) => {
            const b = await store.verifyBatch(after, o.batchSize, privateKey());
            out.ok += b.ok;
            out.previousKey += b.previousKey;
            out.cannotOpen.push(...b.cannotOpen);
            const rows = b.ok + b.previousKey + b.cannotOpen.length;
            out.total += rows;
            return { lastId: b.lastId ?? null, rows };
        });
        return out;
    }
    static onBudgetEvent(listener) {
        if (typeof listener !== 'function')
            throw invalid('listener must be a function');
        // Each subscription is its own entry, even for the same function.
        const entry = (event) => listener(event);
        state.listeners.add(entry);
        return () => {
            state.listeners.delete(entry);
        };
    }
    /** Checks that an encrypted API key is three `:`-separated hex parts (the original's check). */
    static isValidEncryptedFormat(encryptedApiKey) {
        return typeof encryptedApiKey === 'string' && native.isValidEncryptedFormat(encryptedApiKey);
    }
    /** Checks that a string is non-empty hexadecimal. */
    static isValidHex(str) {
        return typeof str === 'string' && native.isValidHex(str);
    }
    /** Checks that a string is canonical standard base64. */
    static isValidBase64(str) {
        return typeof str === 'string' && native.isValidBase64(str);
    }
    /** Blocked, as in the original: warns and rejects. Use `incrementUsageAndGetApiKey`. */
    static async findAll(..._args) {
        return blocked('findAll');
    }
    /** Blocked, as in the original: warns and rejects. Use `incrementUsageAndGetApiKey`. */
    static async findOne(..._args) {
        return blocked('findOne');
    }
    /** Blocked, as in the original: warns and rejects. Use `incrementUsageAndGetApiKey`. */
    static async findByPk(..._args) {
        return blocked('findByPk');
    }
}
exports.PsPrivateAccessStore = PsPrivateAccessStore;
function blocked(name) {
    console.warn(`Warning: Attempted to use unsecured method ${name}. Use incrementUsageAndGetApiKey instead.`);
    sync(() => native.blockedMethod(name));
    throw new PsPrivateAccessStoreError('PSPAS_INTERNAL', `${name} is blocked`);
}

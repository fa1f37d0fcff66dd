"use strict";
/**
 * Set-up: `configure()` options and the caller's `process.env`, read through the settings
 * table (`settings.generated.ts`, generated from `src/settings/table.rs`). Keeps this realm's state:
 * the configured options, the native handle per database set-up, the private-key handle.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.configure = configure;
exports.currentStore = currentStore;
exports.publicKey = publicKey;
exports.privateKey = privateKey;
exports.bindingKey = bindingKey;
exports.closeAll = closeAll;
const node_crypto_1 = require("node:crypto");
const os = require("node:os");
const errors_1 = require("./errors");
const native_1 = require("./native");
const settings_generated_1 = require("./settings.generated");
/** The variables that name a database set-up (snapshotted from the caller's `process.env`). */
const SETUP_VARIABLES = settings_generated_1.SETTINGS.filter((s) => s.scope === 'setup').flatMap((s) => s.env);
const BY_OPTION = new Map(settings_generated_1.SETTINGS.filter((s) => s.option !== null).map((s) => [s.option, s]));
/** The environment variables of a call-scope option (the RSA keys), first set one wins. */
function callVariable(option) {
    for (const name of BY_OPTION.get(option)?.env ?? []) {
        const v = process.env[name];
        if (v !== undefined && v !== '')
            return v;
    }
    return null;
}
/** This realm's set-up: configured options and the native handles opened for it. */
const state = {
    /** Configured call-scope options (the RSA keys), read at each call. */
    keys: {},
    /** Configured setup-scope options, passed to the native set-up. */
    native: {},
    /**
     * Handles by a SHA-256 of the values of `SETUP_VARIABLES` they were opened for (a digest, so
     * the map keeps no long-lived copy of `DATABASE_URL` or `PSQL_DB_PASS` joined together).
     */
    handles: new Map(),
    /** The last handle and the variable values it was found for (the common case: unchanged). */
    last: null,
    /** The private keys as last read, and their native handle (digested once, not per call). */
    privatePem: null,
    previousPems: null,
    privateHandle: null,
};
/**
 * Check and apply `configure()` options: unknown names and wrong types throw `PSPAS_CONFIG`
 * naming the option (never its value); values are checked by the core.
 */
function configure(options) {
    const o = options ?? {};
    if (typeof o !== 'object')
        throw (0, errors_1.configError)('configure() takes an options object');
    const keys = {};
    const setup = {};
    for (const [name, value] of Object.entries(o)) {
        const row = BY_OPTION.get(name);
        if (row === undefined) {
            throw (0, errors_1.configError)(`Unknown option ${JSON.stringify(name)}; the options are ${[...BY_OPTION.keys()].join(', ')}`);
        }
        if (value === undefined || value === null)
            continue;
        if (typeof value !== row.type)
            throw (0, errors_1.configError)(`${name} must be a ${row.type}`);
        if (row.scope === 'call')
            keys[name] = value;
        else
            setup[name] = value;
    }
    (0, errors_1.sync)(() => native_1.native.NativeStore.checkOptions(setup));
    (0, errors_1.sync)(() => native_1.native.checkConfiguredKeys(keys.publicKey ?? null, keys.privateKey ?? null, keys.previousPrivateKeys ?? null));
    void closeAll();
    state.keys = keys;
    state.native = setup;
    state.privatePem = null;
    state.previousPems = null;
    state.privateHandle = null;
}
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
    const hash = (0, node_crypto_1.createHash)('sha256');
    for (const v of values)
        hash.update(v === undefined ? '\u0001' : v + '\u0000');
    const key = hash.digest('base64');
    let handle = state.handles.get(key);
    if (handle === undefined) {
        const vars = {};
        for (const name of SETUP_VARIABLES) {
            const v = env[name];
            if (v !== undefined)
                vars[name] = v;
        }
        handle = (0, errors_1.sync)(() => native_1.native.NativeStore.open(state.native, vars, currentOsUser()));
        state.handles.set(key, handle);
    }
    state.last = { values, handle };
    return handle;
}
/** The public key as of now: configured, else the caller's environment. */
function publicKey() {
    const configured = state.keys.publicKey;
    return configured !== undefined
        ? { pem: configured, configured: true }
        : { pem: callVariable('publicKey'), configured: false };
}
/**
 * The private key as of now (configured, else the caller's environment) with the previous
 * keys of a rotation, as a native handle made once per distinct set of PEMs.
 */
function privateKey() {
    const pem = state.keys.privateKey ?? callVariable('privateKey');
    const previous = state.keys.previousPrivateKeys ?? callVariable('previousPrivateKeys');
    if (pem !== state.privatePem || previous !== state.previousPems) {
        const configured = state.keys.privateKey !== undefined || state.keys.previousPrivateKeys !== undefined;
        state.privateHandle = pem === null ? null : (0, errors_1.sync)(() => new native_1.native.NativePrivateKey(pem, configured, previous));
        state.privatePem = pem;
        state.previousPems = previous;
    }
    return state.privateHandle;
}
/**
 * The private keys for binding a key being added to its group, or `null` when they are unset
 * or do not parse: adding never fails for want of them (the key is then stored as given, or
 * refused under `groupBinding: 'required'`).
 */
function bindingKey() {
    try {
        return privateKey();
    }
    catch {
        return null;
    }
}
/** Close every pool this realm opened; the next call reconnects. */
function closeAll() {
    const handles = [...state.handles.values()];
    state.handles.clear();
    state.last = null;
    return Promise.all(handles.map((h) => h.close())).then(() => undefined);
}

"use strict";
/**
 * The class `PsPrivateAccessStore`: records of `ps_private_access_store` (instances) and the
 * documented static methods. Each method checks its arguments' types, calls the native
 * handle of the caller's set-up and converts the result into values of the caller's realm.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.PsPrivateAccessStore = void 0;
const args_1 = require("./args");
const errors_1 = require("./errors");
const events_1 = require("./events");
const outbox_1 = require("./outbox");
const native_1 = require("./native");
const records_1 = require("./records");
const rotation_1 = require("./rotation");
const settings_1 = require("./settings");
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
        (0, settings_1.configure)(options);
    }
    /**
     * What this process holds in memory, for monitoring: the data keys cached for the current
     * set-up (`keyCacheEntries`; expired ones are swept without waiting for a call) and the
     * set-ups shared now (`sharedSetups`, each with its pool; at most 16, least recently used
     * evicted), and whether the process writes no core file (`coreDumpsExcluded`); for the
     * current set-up, its batching counters (`crossKeyBatches`, `leanIncrements`) and what it saw
     * of its servers (`readOnlyRefusals`: statements a read-only server refused, none of them run;
     * `serverMoves`: moves to another server of a multi-host URL).
     */
    static getDiagnostics() {
        return JSON.parse((0, errors_1.sync)(() => (0, settings_1.currentStore)().diagnostics()));
    }
    /** Close the database pools this caller opened and drop their cached data keys; the next call reconnects. */
    static async close() {
        await (0, errors_1.settle)(() => (0, settings_1.closeAll)());
    }
    /**
     * Encrypts an API key using AES-256-GCM with a random key, and encrypts that key with the
     * RSA public key (`RSA_API_ENCRYPTION_PUBLIC_KEY`). Synchronous, as in the original.
     */
    static encryptApiKey(apiKey) {
        const { pem, configured } = (0, settings_1.publicKey)();
        // Without a key, the native call throws the original's sentence before reading apiKey.
        return (0, errors_1.sync)(() => native_1.native.seal(pem, pem === null ? '' : (0, args_1.string)(apiKey, 'apiKey'), configured));
    }
    /**
     * Decrypts an API key with the RSA private key (`RSA_API_ENCRYPTION_PRIVATE_KEY`).
     * Synchronous, as in the original.
     */
    static decryptApiKey(encryptedApiKey, encryptedAesKey) {
        const key = (0, settings_1.privateKey)();
        return (0, errors_1.sync)(() => (0, settings_1.currentStore)().decrypt(key, (0, args_1.string)(encryptedApiKey, 'encryptedApiKey'), (0, args_1.string)(encryptedAesKey, 'encryptedAesKey')));
    }
    /**
     * Adds a new pre-encrypted API key to the store (usage zero, active). Rejects with
     * `Invalid encrypted key format` unless `encryptedApiKey` is three `:`-separated hex parts
     * and `encryptedAesKey` canonical base64; nothing is written then. With `groupBinding`
     * `on` or `required` the key is bound to `groupId` first when the private key is set
     * (`required` refuses a key it cannot bind: `PSPAS_UNBOUND_KEY`).
     */
    static async addPreEncryptedKey(groupId, userId, aiModelId, externalApiId, encryptedApiKey, encryptedAesKey, configuration) {
        (0, args_1.number)(groupId, 'groupId');
        (0, args_1.number)(userId, 'userId');
        const model = (0, args_1.optionalId)(aiModelId, 'aiModelId');
        const api = (0, args_1.optionalId)(externalApiId, 'externalApiId');
        (0, args_1.string)(encryptedApiKey, 'encryptedApiKey');
        (0, args_1.string)(encryptedAesKey, 'encryptedAesKey');
        const json = (0, args_1.configurationJson)(configuration);
        const text = await (0, errors_1.settle)(() => (0, settings_1.currentStore)().add(groupId, userId, model, api, encryptedApiKey, encryptedAesKey, json, (0, settings_1.bindingKey)()));
        return new PsPrivateAccessStore((0, records_1.attributes)(JSON.parse(text)));
    }
    /**
     * Retrieves the group's keys (encrypted), optionally filtered, ordered
     * `is_active DESC, id ASC`.
     */
    static async getApiKeys(groupId, options) {
        (0, args_1.number)(groupId, 'groupId');
        const filter = (0, args_1.filterOf)((0, args_1.optionsObject)(options));
        const text = await (0, errors_1.settle)(() => (0, settings_1.currentStore)().list(groupId, filter));
        return JSON.parse(text).map((r) => new PsPrivateAccessStore((0, records_1.attributes)(r)));
    }
    /**
     * Atomically adds `incrementAmount` (default 1) to the usage of the group's first active
     * matching key with budget room and returns that key decrypted; `null` when there is none
     * (see `getBudgetStatus` for why). A key that cannot be decrypted rejects and counts
     * nothing. With `requestId`, the call counts once however often it is sent: a repeat within
     * the retention window (`requestRetentionMs`) counts nothing, fires no event and returns the
     * key the first call returned; so retrying after `PSPAS_DB_OUTCOME_UNKNOWN` with the same
     * `requestId` is safe.
     */
    static async incrementUsageAndGetApiKey(groupId, options) {
        (0, args_1.number)(groupId, 'groupId');
        const o = (0, args_1.optionsObject)(options);
        const filter = (0, args_1.filterOf)(o);
        const amount = o.incrementAmount === undefined ? 1 : (0, args_1.number)(o.incrementAmount, 'incrementAmount');
        const requestId = o.requestId === undefined ? null : (0, args_1.string)(o.requestId, 'requestId');
        const out = await (0, errors_1.settle)(() => (0, settings_1.currentStore)().increment(groupId, filter, amount, (0, settings_1.privateKey)(), requestId));
        // Events of keys that refused the call are delivered even when the granted key then
        // could not be served.
        if (out.events !== null)
            (0, events_1.emit)(out.events);
        if (out.error !== null)
            throw (0, errors_1.convertError)(out.error);
        return out.apiKey;
    }
    /**
     * For spend known only after the call (an LLM call's real cost): admits the call for
     * `estimate` as `incrementUsageAndGetApiKey` admits an amount — the group's first active
     * matching key, in id order, with room for its committed use plus its live holds plus
     * `estimate` in every period, decided under the key's row lock — and places a hold of
     * `estimate` on it instead of counting it. Resolves to the reservation and the decrypted key,
     * or `null` when no key has room. Settle it with `settleUsage` (the real cost), or drop it
     * with `releaseUsage`; if neither comes, the hold stops counting at `expiresAt`.
     */
    static async reserveUsageAndGetApiKey(groupId, options) {
        (0, args_1.number)(groupId, 'groupId');
        const o = (0, args_1.optionsObject)(options);
        const filter = (0, args_1.filterOf)(o);
        const estimate = (0, args_1.number)(o.estimate, 'estimate');
        const requestId = o.requestId === undefined ? null : (0, args_1.string)(o.requestId, 'requestId');
        const ttlMs = o.ttlMs === undefined ? null : (0, args_1.number)(o.ttlMs, 'ttlMs');
        const out = await (0, errors_1.settle)(() => (0, settings_1.currentStore)().reserve(groupId, filter, estimate, (0, settings_1.privateKey)(), requestId, ttlMs));
        if (out.events !== null)
            (0, events_1.emit)(out.events);
        if (out.error !== null)
            throw (0, errors_1.convertError)(out.error);
        if (out.reservation === null || out.apiKey === null)
            return null;
        const r = JSON.parse(out.reservation);
        return {
            reservationId: r.reservationId,
            keyId: r.keyId,
            apiKey: out.apiKey,
            amount: r.amount,
            expiresAt: new Date(r.expiresAt),
        };
    }
    /**
     * Charges a reservation's actual cost to its key and removes its hold: counted like an
     * increment (even above the estimate or the limit — real spend is never dropped; `overrun`
     * says by how much it exceeded the estimate), firing the budget events of the committed
     * spend. Idempotent: a second settle charges nothing and resolves to the first result
     * (`alreadySettled: true`). An expired or released reservation is still charged.
     * `PSPAS_RESERVATION_NOT_FOUND` for an id this store never issued (or pruned after the
     * request retention window).
     */
    static async settleUsage(reservationId, actualAmount) {
        (0, args_1.string)(reservationId, 'reservationId');
        (0, args_1.number)(actualAmount, 'actualAmount');
        const out = await (0, errors_1.settle)(() => (0, settings_1.currentStore)().settle(reservationId, actualAmount));
        if (out.events)
            (0, events_1.emit)(out.events);
        return JSON.parse(out.settlement);
    }
    /**
     * Drops a reservation's hold without charging: `true` when it was held; `false` after a
     * settle or a release, or for an id never issued.
     */
    static async releaseUsage(reservationId) {
        (0, args_1.string)(reservationId, 'reservationId');
        return (0, errors_1.settle)(() => (0, settings_1.currentStore)().release(reservationId));
    }
    /**
     * Replaces a key's budget configuration, checked as `addPreEncryptedKey` checks it
     * (`PSPAS_INVALID_CONFIGURATION`, nothing written); `true` if the key exists. The next call
     * on the key decides on the new configuration, in every process.
     */
    static async setConfiguration(id, configuration) {
        (0, args_1.number)(id, 'id');
        const json = (0, args_1.configurationJson)(configuration);
        return (0, errors_1.settle)(() => (0, settings_1.currentStore)().setConfiguration(id, json));
    }
    /** Sets the active status of a key; `true` if a row was updated. */
    static async setKeyStatus(id, isActive) {
        (0, args_1.number)(id, 'id');
        (0, args_1.boolean)(isActive, 'isActive');
        return (0, errors_1.settle)(() => (0, settings_1.currentStore)().setActive(id, isActive));
    }
    /** The usage counters of a key (current day and month, and total), or `null`. */
    static async getUsage(id) {
        (0, args_1.number)(id, 'id');
        const text = await (0, errors_1.settle)(() => (0, settings_1.currentStore)().usage(id));
        return text === null ? null : JSON.parse(text);
    }
    /**
     * Where a key stands against its budgets now (per period: used, limit, remaining, period
     * start), and whether it is active: tells "over budget" from "no key". `null` for an
     * unknown id.
     */
    static async getBudgetStatus(id) {
        (0, args_1.number)(id, 'id');
        return (0, records_1.budgetStatus)(await (0, errors_1.settle)(() => (0, settings_1.currentStore)().budgetStatus(id)));
    }
    /**
     * Subscribe to budget events (thresholds crossed, first refusals per period) caused by
     * calls made here. Returns the function that unsubscribes. A listener that throws is
     * reported with `process.emitWarning` and affects nothing else.
     */
    static onBudgetEvent(listener) {
        return (0, events_1.subscribe)(listener);
    }
    /**
     * Claim budget events from the durable outbox, from any process: up to `limit` pending
     * events (oldest first), each leased to `consumer` for `leaseMs` — no other claim gets it
     * until it is acked or the lease runs out. An event claimed `maxAttempts` times without an
     * ack is parked instead (kept; `ps-access-store events retry` un-parks it). Every event
     * any process's call fired is there, written in the transaction that decided it, once per
     * key, period and kind.
     */
    static async claimBudgetEvents(options) {
        return (0, outbox_1.claimBudgetEvents)(options);
    }
    /** Ack claimed events by `eventId`: they are done. Resolves to the number acked. */
    static async ackBudgetEvents(eventIds) {
        return (0, outbox_1.ackBudgetEvents)(eventIds);
    }
    /**
     * Poll the outbox and hand each event to `handler`, one at a time; ack it when the handler
     * resolves; when it throws, back off and leave the event to be claimed again after its
     * lease (parked after `maxAttempts`). Delivery is at least once. `stop()` finishes the
     * event in hand and resolves.
     */
    static startBudgetNotifier(options) {
        return (0, outbox_1.startBudgetNotifier)(options);
    }
    /** The outbox for an operator, newest first (optionally one state). */
    static async listBudgetEvents(options) {
        return (0, outbox_1.listBudgetEvents)(options);
    }
    /** Un-park a parked event (pending again, attempts reset); `false` if it was not parked. */
    static async retryBudgetEvent(eventId) {
        return (0, outbox_1.retryBudgetEvent)(eventId);
    }
    /** Open the store now and create the table if it is missing (what the first call does). */
    static async migrate() {
        await (0, errors_1.settle)(() => (0, settings_1.currentStore)().migrate());
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
        return (0, rotation_1.rotateKeys)(options);
    }
    /**
     * Bind every stored key to its group (see `groupBinding`): each unbound row's data key is
     * unwrapped, checked to open the row's API-key ciphertext, and wrapped again under the
     * current public key with the row's group in the RSA-OAEP label, so a copy of the pair in
     * another group never opens. API-key ciphertexts are never touched. Batches, transactions,
     * resumability and idempotence as `rotateKeys` (rows bound already are skipped); agents
     * keep working throughout. Run it before setting `groupBinding: 'required'`.
     */
    static async bindKeys(options) {
        return (0, rotation_1.bindKeys)(options);
    }
    /**
     * Check that every row's data key opens: with the current private key (`ok`), only with a
     * previous one (`previousKey`), or with none (`cannotOpen`, by id); `unbound` counts the
     * rows that open but are not bound to their group. Reads only; never returns or logs a
     * secret.
     */
    static async verifyKeys(options) {
        return (0, rotation_1.verifyKeys)(options);
    }
    /** Checks that an encrypted API key is three `:`-separated hex parts (the original's check). */
    static isValidEncryptedFormat(encryptedApiKey) {
        return typeof encryptedApiKey === 'string' && native_1.native.isValidEncryptedFormat(encryptedApiKey);
    }
    /** Checks that a string is non-empty hexadecimal. */
    static isValidHex(str) {
        return typeof str === 'string' && native_1.native.isValidHex(str);
    }
    /** Checks that a string is canonical standard base64. */
    static isValidBase64(str) {
        return typeof str === 'string' && native_1.native.isValidBase64(str);
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
    (0, errors_1.sync)(() => native_1.native.blockedMethod(name));
    throw new errors_1.PsPrivateAccessStoreError('PSPAS_INTERNAL', `${name} is blocked`);
}

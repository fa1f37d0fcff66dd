/**
 * The class `PsPrivateAccessStore`: records of `ps_private_access_store` (instances) and the
 * documented static methods. Each method checks its arguments' types, calls the native
 * handle of the caller's set-up and converts the result into values of the caller's realm.
 */
import type { PsPrivateAccessStoreOptions } from './settings.generated';
import type { BudgetNotifierOptions, ClaimBudgetEventsOptions, GetApiKeysOptions, ListBudgetEventsOptions, PsBudgetEventRecord, PsBudgetNotifier, PsClaimedBudgetEvent, PsDiagnostics, IncrementUsageOptions, PsBudgetEvent, PsBudgetStatus, PsKeyBatchOptions, PsKeyRotationOptions, PsKeyBindingResult, PsKeyRotationResult, PsKeyVerificationResult, PsPrivateAccessStoreAttributes, PsPrivateAccessStoreConfiguration, PsPrivateAccessStoreUsage, PsReservation, PsSettlement, ReserveUsageOptions, YpGroupData, YpUserData } from './types';
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
    /**
     * What this process holds in memory, for monitoring: the data keys cached for the current
     * set-up (`keyCacheEntries`; expired ones are swept without waiting for a call) and the
     * set-ups shared now (`sharedSetups`, each with its pool; at most 16, least recently used
     * evicted), and whether the process writes no core file (`coreDumpsExcluded`); for the
     * current set-up, its batching counters (`crossKeyBatches`, `leanIncrements`) and what it saw
     * of its servers (`readOnlyRefusals`: statements a read-only server refused, none of them run;
     * `serverMoves`: moves to another server of a multi-host URL).
     */
    static getDiagnostics(): PsDiagnostics;
    /** Close the database pools this caller opened and drop their cached data keys; the next call reconnects. */
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
     * and `encryptedAesKey` canonical base64; nothing is written then. With `groupBinding`
     * `on` or `required` the key is bound to `groupId` first when the private key is set
     * (`required` refuses a key it cannot bind: `PSPAS_UNBOUND_KEY`).
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
     * nothing. With `requestId`, the call counts once however often it is sent: a repeat within
     * the retention window (`requestRetentionMs`) counts nothing, fires no event and returns the
     * key the first call returned; so retrying after `PSPAS_DB_OUTCOME_UNKNOWN` with the same
     * `requestId` is safe.
     */
    static incrementUsageAndGetApiKey(groupId: number, options?: IncrementUsageOptions): Promise<string | null>;
    /**
     * For spend known only after the call (an LLM call's real cost): admits the call for
     * `estimate` as `incrementUsageAndGetApiKey` admits an amount — the group's first active
     * matching key, in id order, with room for its committed use plus its live holds plus
     * `estimate` in every period, decided under the key's row lock — and places a hold of
     * `estimate` on it instead of counting it. Resolves to the reservation and the decrypted key,
     * or `null` when no key has room. Settle it with `settleUsage` (the real cost), or drop it
     * with `releaseUsage`; if neither comes, the hold stops counting at `expiresAt`.
     */
    static reserveUsageAndGetApiKey(groupId: number, options: ReserveUsageOptions): Promise<PsReservation | null>;
    /**
     * Charges a reservation's actual cost to its key and removes its hold: counted like an
     * increment (even above the estimate or the limit — real spend is never dropped; `overrun`
     * says by how much it exceeded the estimate), firing the budget events of the committed
     * spend. Idempotent: a second settle charges nothing and resolves to the first result
     * (`alreadySettled: true`). An expired or released reservation is still charged.
     * `PSPAS_RESERVATION_NOT_FOUND` for an id this store never issued (or pruned after the
     * request retention window).
     */
    static settleUsage(reservationId: string, actualAmount: number): Promise<PsSettlement>;
    /**
     * Drops a reservation's hold without charging: `true` when it was held; `false` after a
     * settle or a release, or for an id never issued.
     */
    static releaseUsage(reservationId: string): Promise<boolean>;
    /**
     * Replaces a key's budget configuration, checked as `addPreEncryptedKey` checks it
     * (`PSPAS_INVALID_CONFIGURATION`, nothing written); `true` if the key exists. The next call
     * on the key decides on the new configuration, in every process.
     */
    static setConfiguration(id: number, configuration: PsPrivateAccessStoreConfiguration): Promise<boolean>;
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
    static onBudgetEvent(listener: (event: PsBudgetEvent) => void): () => void;
    /**
     * Claim budget events from the durable outbox, from any process: up to `limit` pending
     * events (oldest first), each leased to `consumer` for `leaseMs` — no other claim gets it
     * until it is acked or the lease runs out. An event claimed `maxAttempts` times without an
     * ack is parked instead (kept; `ps-access-store events retry` un-parks it). Every event
     * any process's call fired is there, written in the transaction that decided it, once per
     * key, period and kind.
     */
    static claimBudgetEvents(options: ClaimBudgetEventsOptions): Promise<PsClaimedBudgetEvent[]>;
    /** Ack claimed events by `eventId`: they are done. Resolves to the number acked. */
    static ackBudgetEvents(eventIds: string[]): Promise<number>;
    /**
     * Poll the outbox and hand each event to `handler`, one at a time; ack it when the handler
     * resolves; when it throws, back off and leave the event to be claimed again after its
     * lease (parked after `maxAttempts`). Delivery is at least once. `stop()` finishes the
     * event in hand and resolves.
     */
    static startBudgetNotifier(options: BudgetNotifierOptions): PsBudgetNotifier;
    /** The outbox for an operator, newest first (optionally one state). */
    static listBudgetEvents(options?: ListBudgetEventsOptions): Promise<PsBudgetEventRecord[]>;
    /** Un-park a parked event (pending again, attempts reset); `false` if it was not parked. */
    static retryBudgetEvent(eventId: string): Promise<boolean>;
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
     * Bind every stored key to its group (see `groupBinding`): each unbound row's data key is
     * unwrapped, checked to open the row's API-key ciphertext, and wrapped again under the
     * current public key with the row's group in the RSA-OAEP label, so a copy of the pair in
     * another group never opens. API-key ciphertexts are never touched. Batches, transactions,
     * resumability and idempotence as `rotateKeys` (rows bound already are skipped); agents
     * keep working throughout. Run it before setting `groupBinding: 'required'`.
     */
    static bindKeys(options?: PsKeyBatchOptions): Promise<PsKeyBindingResult>;
    /**
     * Check that every row's data key opens: with the current private key (`ok`), only with a
     * previous one (`previousKey`), or with none (`cannotOpen`, by id); `unbound` counts the
     * rows that open but are not bound to their group. Reads only; never returns or logs a
     * secret.
     */
    static verifyKeys(options?: PsKeyBatchOptions): Promise<PsKeyVerificationResult>;
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

/**
 * The documented types of the public API (PolicySynth's, plus what this package adds). The
 * options of `configure()` are generated from the settings table (`settings.generated.ts`).
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
/**
 * Usage counters of a key in the current day and month, and in total. A counter that a hand
 * edit of the table made unreadable (a string, a boolean, …) reads as `null`, never as 0 (see
 * `PsBudgetStatus.unreadable`).
 */
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
    /** The amount to count, at most `1e15` (default 1). */
    incrementAmount?: number;
    /**
     * Makes the call idempotent: a non-empty string of at most 255 characters, scoped to the
     * group. The first call with it counts; a repeat within the retention window (24 h by
     * default, `requestRetentionMs`) counts nothing, fires no event and returns the key the first
     * call returned (or `null` if it returned none). The same id with another amount or filter
     * rejects with `PSPAS_IDEMPOTENCY_CONFLICT` and counts nothing.
     */
    requestId?: string;
}
/**
 * Options of `reserveUsageAndGetApiKey`: the filters of `incrementUsageAndGetApiKey`, the
 * `estimate` to hold (required, at most `1e15`), and optionally a `requestId` and a `ttlMs`.
 */
export interface ReserveUsageOptions extends GetApiKeysOptions {
    /** The spend to hold: admission requires room for use + live holds + `estimate`. */
    estimate: number;
    /**
     * Makes the reserve idempotent (a non-empty string of at most 255 characters, scoped to the
     * group): a repeat while its reservation is remembered returns that reservation (the same
     * `reservationId`, key and `expiresAt`) and holds nothing more; another `estimate` or filter
     * rejects with `PSPAS_IDEMPOTENCY_CONFLICT`. A reserve that found no room (`null`) records
     * nothing: a retry is decided afresh.
     */
    requestId?: string;
    /**
     * How long the hold counts, in milliseconds (1 to 2592000000, 30 days; default
     * `reservationTtlMs`, 10 minutes). Past `expiresAt` the hold stops counting, so a crashed
     * caller never pins a budget; settling it later still charges.
     */
    ttlMs?: number;
}
/** A reservation: the hold placed on a key and that key, decrypted. */
export interface PsReservation {
    /** Pass it to `settleUsage` or `releaseUsage`. */
    reservationId: string;
    keyId: number;
    /** The decrypted API key. */
    apiKey: string;
    /** The estimate held (rounded to 15 significant digits, as budgets count). */
    amount: number;
    /** When the hold stops counting. */
    expiresAt: Date;
}
/** What `settleUsage` did. */
export interface PsSettlement {
    reservationId: string;
    keyId: number;
    /** The amount charged to the key's counters (the actual amount). */
    charged: number;
    /** What was charged beyond the estimate (0 when within it). */
    overrun: number;
    /** A repeat: nothing was charged now; this is the first settle's result. */
    alreadySettled: boolean;
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
    /** Committed spend (holds are not use). */
    used: number;
    /**
     * The live holds of reservations (`reserveUsageAndGetApiKey`), which count against every
     * period until settled, released or expired; `null` when `usage.holds` is unreadable.
     */
    reserved: number;
    limit: number | null;
    /** What a call may still be admitted for: the limit less `used` and `reserved` (never < 0). */
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
    /**
     * Stored fields that cannot be read (`usage.dailyUse`, `usage.holds`, `maxBudget.total`,
     * `emailNotificationBudgetThresholds.daily`, …): empty unless the row was edited by hand. A
     * counter among them, or a limit while budgets are enforced, makes the key refuse every call
     * (fail closed); its `used` is then `null`.
     */
    unreadable: string[];
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
/** The outcome of `bindKeys()`. */
export interface PsKeyBindingResult {
    /** Rows processed. */
    total: number;
    /** Rows bound to their group now. */
    bound: number;
    /** Rows bound already (skipped: a re-run binds nothing twice). */
    alreadyBound: number;
    /** Ids of rows no configured key opens (left untouched). */
    cannotOpen: number[];
    /** Rows whose data key changed while their batch was being bound (run again). */
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
    /**
     * Rows that open but are not bound to their group: refused under
     * `groupBinding: 'required'`; `bindKeys()` (`ps-access-store bind`) binds them.
     */
    unbound: number;
    /**
     * Sets of row ids that share a stored ciphertext (in id order): a sealed pair stored more
     * than once, so one group could be served another's key. `addPreEncryptedKey` refuses new
     * copies (`PSPAS_DUPLICATE_KEY`); these were stored before, or written to the table directly.
     * Disable or delete all but the row that belongs where it is.
     */
    duplicates: number[][];
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
/** How an outbox event stands: not handled yet, handled, or out of attempts (kept for an operator). */
export type PsBudgetEventState = 'pending' | 'acked' | 'parked';
/**
 * A budget event from the durable outbox (`ps_private_access_events`): the documented event
 * fields, plus its id, how many times it has been claimed, and when it was written (by the
 * transaction that decided it, in whichever process made the call).
 */
export interface PsClaimedBudgetEvent extends PsBudgetEvent {
    /** The outbox row's id (a decimal string): what `ackBudgetEvents` takes. */
    eventId: string;
    /** How many times it has been claimed, this claim included. */
    attempts: number;
    createdAt: Date;
}
/** An outbox event as an operator sees it (`listBudgetEvents`, `ps-access-store events`). */
export interface PsBudgetEventRecord extends PsClaimedBudgetEvent {
    state: PsBudgetEventState;
    /** The consumer that claimed it last (`null`: never claimed). */
    consumer: string | null;
    /** Until when that claim holds it (`null` when not leased). */
    leasedUntil: Date | null;
    ackedAt: Date | null;
}
/** Options of `claimBudgetEvents`. */
export interface ClaimBudgetEventsOptions {
    /** Who claims (a non-empty string of at most 255 characters), recorded on each event. */
    consumer: string;
    /** The most events to claim (1 to 1000; default 100). */
    limit?: number;
    /** How long the claimed events are this consumer's alone, in ms (default 30000). */
    leaseMs?: number;
    /**
     * An event claimed this many times whose lease ran out without an ack is parked instead of
     * claimed again (1 to 1000; default `eventMaxAttempts` / `PSPAS_EVENT_MAX_ATTEMPTS`, 5).
     */
    maxAttempts?: number;
}
/** Options of `listBudgetEvents`. */
export interface ListBudgetEventsOptions {
    /** Only events in this state (default: all). */
    state?: PsBudgetEventState;
    /** The most events to list, newest first (1 to 1000; default 100). */
    limit?: number;
}
/** Options of `startBudgetNotifier`. */
export interface BudgetNotifierOptions {
    /** Called with each event, one at a time; the event is acked when it resolves. */
    handler: (event: PsClaimedBudgetEvent) => unknown;
    /** This notifier's name (default `notifier-<pid>`). */
    consumer?: string;
    /** How long to wait when there is nothing to claim, in ms (default 1000). */
    pollMs?: number;
    /** The lease of each claimed event, in ms (default 30000): longer than a handler runs. */
    leaseMs?: number;
    /** Claims without an ack before an event is parked (default: the configured one, 5). */
    maxAttempts?: number;
    /**
     * Called when the handler throws or the database cannot be reached (the notifier backs
     * off and goes on); default: `process.emitWarning` with code `PSPAS_NOTIFIER_ERROR`.
     */
    onError?: (error: unknown, event: PsClaimedBudgetEvent | null) => void;
}
/** A running notifier. */
export interface PsBudgetNotifier {
    /** Stop polling; resolves once the event in hand (if any) is handled and acked. */
    stop(): Promise<void>;
}
/** What `getDiagnostics()` reports about this process's memory. */
export interface PsDiagnostics {
    /** Data keys cached (plaintext, in memory) for the current set-up. */
    keyCacheEntries: number;
    /** Set-ups (combinations of database settings) shared now, each with its own pool. */
    sharedSetups: number;
    /** The process writes no core file (`PSPAS_NO_CORE_DUMPS=true` when the addon loaded; Linux). */
    coreDumpsExcluded: boolean;
    /** Statements this set-up sent carrying calls on several keys at once (cross-key batching, PostgreSQL). */
    crossKeyBatches: number;
    /**
     * Increments this set-up counted in one statement with no budget decision of its own (the
     * common call: PostgreSQL's lean statement, SQLite's one-statement increment).
     */
    leanIncrements: number;
    /**
     * Statements this set-up saw refused because their server was read-only (a demoted primary,
     * a standby): none of them ran; each was sent again to the writable server of a multi-host
     * URL, or reported `PSPAS_DB_UNAVAILABLE` (never `PSPAS_DB_OUTCOME_UNKNOWN`).
     */
    readOnlyRefusals: number;
    /** Times this set-up's pool moved to another server of a multi-host URL (a failover). */
    serverMoves: number;
}

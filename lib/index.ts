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

import * as os from 'node:os'
import type * as Native from '../native'

// ---------------------------------------------------------------------------------------------
// Public types (the documented API, plus what this package adds)

/** Budget limits and notification thresholds of a key, as PolicySynth documents them. */
export interface PsPrivateAccessStoreConfiguration {
  /** Limits per day, per month (`petMonth`, PolicySynth's spelling) and in total. */
  maxBudget: {
    perDay: number
    petMonth: number
    total: number
  }
  /**
   * When to emit a `dailyThreshold` / `monthlyThreshold` budget event: a value of at most 1 is
   * a fraction of the limit (`0.8` with `perDay: 1000` fires at 800), a larger value is an
   * amount (`800` fires at 800).
   */
  emailNotificationBudgetThresholds: {
    daily: number
    monthly: number
  }
}

/** Usage counters of a key in the current day and month, and in total. */
export interface PsPrivateAccessStoreUsage {
  dailyUse: number
  monthlyUse: number
  totalUse: number
}

/** Filters of `getApiKeys`: absent or `undefined` adds none, `null` matches SQL `NULL`. */
export interface GetApiKeysOptions {
  aiModelId?: number | null
  externalApiId?: number | null
  isActive?: boolean | null
}

/**
 * Options of `incrementUsageAndGetApiKey`: the filters plus `incrementAmount` (default 1).
 * `isActive` is accepted and ignored: only active keys are ever served.
 */
export interface IncrementUsageOptions extends GetApiKeysOptions {
  incrementAmount?: number
}

/** Minimal shape of the associated PolicySynth group (never loaded by this package). */
export interface YpGroupData {
  id: number
  name?: string
}

/** Minimal shape of the associated PolicySynth user (never loaded by this package). */
export interface YpUserData {
  id: number
  name?: string
  email?: string
}

/** The kinds of budget event. */
export type PsBudgetEventKind =
  | 'dailyThreshold'
  | 'monthlyThreshold'
  | 'dailyLimit'
  | 'monthlyLimit'
  | 'totalLimit'

/**
 * A budget event: a threshold crossed by a granted call, or the first refusal of a key in a
 * period. Emitted exactly once per key, period and kind across all processes, to the
 * listeners registered where the call that caused it was made.
 */
export interface PsBudgetEvent {
  keyId: number
  groupId: number
  aiModelId: number | null
  externalApiId: number | null
  kind: PsBudgetEventKind
  /** The counter after the granted call (thresholds) or before the refused one (limits). */
  used: number
  /** The budget limit of that counter (`maxBudget.perDay`, `.petMonth` or `.total`). */
  limit: number
  /** Start of the day or month the event belongs to; `null` for the total budget. */
  periodStart: Date | null
}

/** One budget period of a key: `limit` and `remaining` are `null` when there is no limit. */
export interface PsBudgetPeriodStatus {
  used: number
  limit: number | null
  remaining: number | null
  /** Start of the current day or month (configured timezone); `null` for the total. */
  periodStart: Date | null
}

/** Where a key stands against its budgets now: tells "over budget" from "no key". */
export interface PsBudgetStatus {
  id: number
  isActive: boolean
  /** Whether budgets are enforced (see `configure({ enforceBudgets })`). */
  enforced: boolean
  daily: PsBudgetPeriodStatus
  monthly: PsBudgetPeriodStatus
  total: PsBudgetPeriodStatus
}

/** Explicit set-up; every option left out (or `null`) falls back to the environment. */
export interface PsPrivateAccessStoreOptions {
  /** `postgres://…`, `postgresql://…` or `sqlite:path`. Overrides every database variable. */
  databaseUrl?: string | null
  /** SQLite file used when no PostgreSQL is configured (default `PSPAS_SQLITE_PATH`). */
  sqlitePath?: string | null
  /** RSA public key PEM (SPKI or PKCS#1); default `RSA_API_ENCRYPTION_PUBLIC_KEY`. */
  publicKey?: string | null
  /** RSA private key PEM (PKCS#8 or PKCS#1); default `RSA_API_ENCRYPTION_PRIVATE_KEY`. */
  privateKey?: string | null
  /**
   * Earlier RSA private keys, PEMs one after another (default
   * `RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS`). Decryption tries them in order after
   * `privateKey`, so agents keep working while `rotateKeys()` rewraps the rows; drop them once
   * `verifyKeys()` reports every row opens with the current key.
   */
  previousPrivateKeys?: string | null
  /** Pool size (default `DB_POOL_MAX`, 5). */
  poolMax?: number | null
  /** Connections kept open (default `DB_POOL_MIN`, 5). */
  poolMin?: number | null
  /** Pool acquire timeout (default `DB_POOL_ACQUIRE_MS`, 30000). */
  acquireTimeoutMs?: number | null
  /** Idle connection timeout (default `DB_POOL_IDLE_MS`, 10000). */
  idleTimeoutMs?: number | null
  /** IANA timezone of the daily and monthly budget periods (default `PSPAS_TIMEZONE`, UTC). */
  timezone?: string | null
  /** Refuse calls over budget (default `PSPAS_ENFORCE_BUDGETS`, else `true`). */
  enforceBudgets?: boolean | null
  /** Cache unwrapped AES data keys in memory (default `PSPAS_KEY_CACHE`, else `true`). */
  keyCache?: boolean | null
  /** At most this many cached data keys (default `PSPAS_KEY_CACHE_MAX_ENTRIES`, 1000). */
  keyCacheMaxEntries?: number | null
  /** A cached data key lives at most this long (default `PSPAS_KEY_CACHE_MAX_AGE_MS`, 600000). */
  keyCacheMaxAgeMs?: number | null
  /**
   * PostgreSQL is reached through a connection pooler in transaction mode (PgBouncer,
   * Supabase, Neon): use no named prepared statements (default `PSPAS_PGBOUNCER`, or
   * `?pgbouncer=true` on the URL, else `false`).
   */
  pgbouncer?: boolean | null
  /**
   * Send concurrent calls on one key as one statement counting their sum (default
   * `PSPAS_COALESCE`, else `true`; PostgreSQL). A batch that is not granted without a budget
   * event is decided call by call, so budgets and events behave exactly as without it.
   */
  coalesce?: boolean | null
}

/** Progress of `rotateKeys()` / `verifyKeys()`, reported after every batch. */
export interface PsKeyBatchProgress {
  /** Rows processed so far. */
  done: number
  /** Rows stored when the run started (rows added meanwhile are processed too). */
  total: number
}

/** Options of `rotateKeys()` and `verifyKeys()`. */
export interface PsKeyBatchOptions {
  /** Rows per batch (1–10000, default 100): one short transaction each in `rotateKeys()`. */
  batchSize?: number
  /** Called after every batch. A listener that throws stops the run (rows done stay done). */
  onProgress?: (progress: PsKeyBatchProgress) => void
}

/** Options of `rotateKeys()`. */
export interface PsKeyRotationOptions extends PsKeyBatchOptions {
  /**
   * The public key PEM rows are rewrapped to. It must be the public half of the current
   * private key (`privateKey` / `RSA_API_ENCRYPTION_PRIVATE_KEY`), which is used when this is
   * left out; a key the deployment could not open is refused (`PSPAS_CONFIG`).
   */
  newPublicKey?: string
}

/** The outcome of `rotateKeys()`. */
export interface PsKeyRotationResult {
  /** Rows processed. */
  total: number
  /** Rows rewrapped from a previous key to the current one. */
  rotated: number
  /** Rows already under the current key (skipped: a re-run rewraps nothing twice). */
  alreadyCurrent: number
  /** Ids of rows no configured key opens (left untouched). */
  cannotOpen: number[]
  /** Rows whose data key changed while their batch was being rewrapped (run again). */
  changedMeanwhile: number
  seconds: number
}

/** The outcome of `verifyKeys()`. */
export interface PsKeyVerificationResult {
  total: number
  /** Rows the current private key opens. */
  ok: number
  /** Rows only a previous private key opens (not rotated yet). */
  previousKey: number
  /** Ids of rows no configured key opens. */
  cannotOpen: number[]
}

/** The stable codes carried by every error's `err.code`. */
export type PsPrivateAccessStoreErrorCode =
  | 'PSPAS_MISSING_PUBLIC_KEY'
  | 'PSPAS_MISSING_PRIVATE_KEY'
  | 'PSPAS_INVALID_RSA_KEY'
  | 'PSPAS_INVALID_FORMAT'
  | 'PSPAS_EMPTY_API_KEY'
  | 'PSPAS_DECRYPT_FAILED'
  | 'PSPAS_INVALID_ARGUMENT'
  | 'PSPAS_INVALID_CONFIGURATION'
  | 'PSPAS_CONFIG'
  | 'PSPAS_DB_UNAVAILABLE'
  | 'PSPAS_DB_ERROR'
  | 'PSPAS_DB_OUTCOME_UNKNOWN'
  | 'PSPAS_NOT_ALLOWED'
  | 'PSPAS_NATIVE_BINDING_MISSING'
  | 'PSPAS_INTERNAL'

/**
 * Every error this package throws or rejects with: an `Error` of the caller's realm whose
 * `message` is the original's sentence where it had one, and whose `code` is stable.
 */
export class PsPrivateAccessStoreError extends Error {
  readonly code: PsPrivateAccessStoreErrorCode

  constructor(code: PsPrivateAccessStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

// ---------------------------------------------------------------------------------------------
// The native addon, errors

/** The platform triple napi-rs names its packages by (`linux-x64-gnu`, `darwin-arm64`, …). */
function platformTriple(): string {
  const { platform, arch } = process
  if (platform === 'linux') {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
    return `linux-${arch}-${report?.header?.glibcVersionRuntime ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/** The generated loader, or one clear error naming the platform, the package and the remedies. */
function loadNative(): typeof Native {
  try {
    return require('../native.js')
  } catch (cause) {
    const triple = platformTriple()
    throw new PsPrivateAccessStoreError(
      'PSPAS_NATIVE_BINDING_MISSING',
      `@policysynth/private-access-store has no native binary for this platform (${triple}): ` +
        `expected the optional dependency @policysynth/private-access-store-${triple} ` +
        `(or private-access-store.${triple}.node beside the package). ` +
        'Install again with optional dependencies included (npm install, without --omit=optional ' +
        'or --no-optional, on the machine that runs the code), or build it from source in the ' +
        'package folder with `npm run build` (needs Rust >= 1.94).',
      { cause },
    )
  }
}

const native: typeof Native = loadNative()

const CODED = /^(PSPAS_[A-Z_]+): ([\s\S]*)$/

/** The one conversion of a native failure into an error of the caller's realm. */
function convertError(e: unknown): PsPrivateAccessStoreError {
  if (e instanceof PsPrivateAccessStoreError) return e
  const text =
    typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string'
      ? (e as { message: string }).message
      : String(e)
  const m = CODED.exec(text)
  return m
    ? new PsPrivateAccessStoreError(m[1] as PsPrivateAccessStoreErrorCode, m[2])
    : new PsPrivateAccessStoreError('PSPAS_INTERNAL', text)
}

/** Run a synchronous native call, converting what it throws. */
function sync<T>(f: () => T): T {
  try {
    return f()
  } catch (e) {
    throw convertError(e)
  }
}

/** Await a native promise, converting its rejection. */
async function settle<T>(p: Promise<T>): Promise<T> {
  try {
    return await p
  } catch (e) {
    throw convertError(e)
  }
}

/** `rotateKeys()` / `verifyKeys()` options, checked. */
function batchOptions(options: PsKeyBatchOptions | undefined): {
  batchSize: number
  onProgress: ((p: PsKeyBatchProgress) => void) | null
} {
  const o = optionsObject(options) as PsKeyBatchOptions & Record<string, unknown>
  const batchSize = o.batchSize === undefined ? 100 : number(o.batchSize, 'batchSize')
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10000) {
    throw invalid('batchSize must be an integer from 1 to 10000')
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw invalid('onProgress must be a function')
  }
  return { batchSize, onProgress: o.onProgress ?? null }
}

/** Run `batch` over the table in id order until no rows are left, reporting progress. */
async function eachBatch(
  o: { onProgress: ((p: PsKeyBatchProgress) => void) | null },
  batch: (
    store: Native.NativeStore,
    after: number,
  ) => Promise<{ lastId: number | null; rows: number }>,
): Promise<void> {
  const store = currentStore()
  const total = await settle(store.countKeys())
  let after = 0
  let done = 0
  for (;;) {
    let r
    try {
      r = await batch(store, after)
    } catch (e) {
      throw convertError(e)
    }
    if (r.lastId === null) return
    after = r.lastId
    done += r.rows
    if (o.onProgress !== null) o.onProgress({ done, total: Math.max(total, done) })
  }
}

function invalid(message: string): PsPrivateAccessStoreError {
  return new PsPrivateAccessStoreError('PSPAS_INVALID_ARGUMENT', message)
}

function number(v: unknown, name: string): number {
  if (typeof v !== 'number') throw invalid(`${name} must be a number`)
  return v
}

function string(v: unknown, name: string): string {
  if (typeof v !== 'string') throw invalid(`${name} must be a string`)
  return v
}

/** `undefined` (no filter), `null` (SQL NULL) or a number. */
function optionalId(v: unknown, name: string): number | null | undefined {
  if (v === undefined || v === null) return v
  return number(v, name)
}

function optionsObject(v: unknown): Record<string, unknown> {
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object') throw invalid('options must be an object')
  return v as Record<string, unknown>
}

function filterOf(o: Record<string, unknown>): Native.NativeFilter {
  const isActive = o.isActive
  if (isActive !== undefined && isActive !== null && typeof isActive !== 'boolean') {
    throw invalid('isActive must be a boolean')
  }
  return {
    aiModelId: optionalId(o.aiModelId, 'aiModelId'),
    externalApiId: optionalId(o.externalApiId, 'externalApiId'),
    isActive,
  }
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
] as const

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
} as const

type OptionName = keyof typeof OPTION_TYPES

/** This realm's set-up: configured options and the native handles opened for it. */
const state = {
  publicKey: undefined as string | undefined,
  privateKey: undefined as string | undefined,
  previousPrivateKeys: undefined as string | undefined,
  native: {} as Native.NativeOptions,
  /** Handles by the values of `SETUP_VARIABLES` they were opened for. */
  handles: new Map<string, Native.NativeStore>(),
  /** The last handle and the variable values it was found for (the common case: unchanged). */
  last: null as { values: Array<string | undefined>; handle: Native.NativeStore } | null,
  /** The private keys as last read, and their native handle (digested once, not per call). */
  privatePem: null as string | null,
  previousPems: null as string | null,
  privateHandle: null as Native.NativePrivateKey | null,
  listeners: new Set<(event: PsBudgetEvent) => void>(),
}

let osUser: string | null | undefined
function currentOsUser(): string | null {
  if (osUser === undefined) {
    try {
      osUser = os.userInfo().username
    } catch {
      osUser = null
    }
  }
  return osUser
}

/** The native handle for the set-up the caller's environment names now. */
function currentStore(): Native.NativeStore {
  const env = process.env
  const last = state.last
  if (last !== null) {
    let same = true
    for (let i = 0; i < SETUP_VARIABLES.length; i++) {
      if (env[SETUP_VARIABLES[i]] !== last.values[i]) {
        same = false
        break
      }
    }
    if (same) return last.handle
  }
  const values = SETUP_VARIABLES.map((name) => env[name])
  const key = values.map((v) => (v === undefined ? '\u0001' : v + '\u0000')).join('')
  let handle = state.handles.get(key)
  if (handle === undefined) {
    const vars: Record<string, string> = {}
    for (const name of SETUP_VARIABLES) {
      const v = env[name]
      if (v !== undefined) vars[name] = v
    }
    handle = sync(() => native.NativeStore.open(state.native, vars, currentOsUser()))
    state.handles.set(key, handle)
  }
  state.last = { values, handle }
  return handle
}

function nonEmpty(v: string | undefined): string | null {
  return v === undefined || v === '' ? null : v
}

/** The public key as of now: configured, else the caller's `RSA_API_ENCRYPTION_PUBLIC_KEY`. */
function publicKeyPem(): string | null {
  return state.publicKey ?? nonEmpty(process.env.RSA_API_ENCRYPTION_PUBLIC_KEY)
}

/**
 * The private key as of now (configured, else the caller's `RSA_API_ENCRYPTION_PRIVATE_KEY`),
 * as a native handle made once per distinct PEM.
 */
function privateKey(): Native.NativePrivateKey | null {
  const pem = state.privateKey ?? nonEmpty(process.env.RSA_API_ENCRYPTION_PRIVATE_KEY)
  const previous =
    state.previousPrivateKeys ?? nonEmpty(process.env.RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS)
  if (pem !== state.privatePem || previous !== state.previousPems) {
    const configured = state.privateKey !== undefined || state.previousPrivateKeys !== undefined
    state.privateHandle =
      pem === null ? null : sync(() => new native.NativePrivateKey(pem, configured, previous))
    state.privatePem = pem
    state.previousPems = previous
  }
  return state.privateHandle
}

function closeAll(): Promise<void> {
  const handles = [...state.handles.values()]
  state.handles.clear()
  state.last = null
  return Promise.all(handles.map((h) => h.close())).then(() => undefined)
}

// ---------------------------------------------------------------------------------------------
// Records and events

const epoch = (ms: number | null | undefined): Date | null => (ms == null ? null : new Date(ms))

/** The documented snake_case attributes of a record (NULL columns are `null`). */
export interface PsPrivateAccessStoreAttributes {
  id: number
  group_id: number
  user_id: number
  ai_model_id: number | null
  external_api_id: number | null
  encrypted_api_key: string
  encrypted_aes_key: string
  configuration: PsPrivateAccessStoreConfiguration
  usage: PsPrivateAccessStoreUsage
  created_at: Date | null
  updated_at: Date | null
  last_used_at: Date | null
  is_active: boolean
}

function record(raw: Record<string, unknown>): PsPrivateAccessStore {
  const values = raw as unknown as PsPrivateAccessStoreAttributes
  values.created_at = epoch(raw.created_at as number | null)
  values.updated_at = epoch(raw.updated_at as number | null)
  values.last_used_at = epoch(raw.last_used_at as number | null)
  return new PsPrivateAccessStore(values)
}

function emit(eventsJson: string): void {
  const events = JSON.parse(eventsJson) as Array<PsBudgetEvent & { periodStart: number | null }>
  for (const raw of events) {
    const event: PsBudgetEvent = { ...raw, periodStart: epoch(raw.periodStart) }
    for (const listener of state.listeners) {
      try {
        listener(event)
      } catch (e) {
        process.emitWarning(
          `A budget event listener threw: ${e instanceof Error ? e.message : String(e)}`,
          { code: 'PSPAS_LISTENER_ERROR', detail: `event kind ${event.kind}, key ${event.keyId}` },
        )
      }
    }
  }
}

function withDates(status: PsBudgetStatus): PsBudgetStatus {
  for (const p of [status.daily, status.monthly, status.total]) {
    p.periodStart = epoch(p.periodStart as unknown as number | null)
  }
  return status
}

/** `JSON.stringify` that keeps a non-finite budget number visible to the core's check. */
function configurationJson(configuration: object): string {
  const c = configuration as Record<string, unknown>
  const budgets = new Set<unknown>([c.maxBudget, c.emailNotificationBudgetThresholds])
  try {
    return JSON.stringify(configuration, function (this: unknown, _key, value: unknown) {
      return typeof value === 'number' && !Number.isFinite(value) && budgets.has(this)
        ? String(value)
        : value
    })
  } catch {
    throw new PsPrivateAccessStoreError(
      'PSPAS_INVALID_CONFIGURATION',
      'Invalid configuration: configuration must be serializable as JSON',
    )
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
export class PsPrivateAccessStore {
  /** The record's attribute values, as on a Sequelize instance. */
  readonly dataValues: Readonly<PsPrivateAccessStoreAttributes>

  /** @internal Records are made by the store's methods. */
  constructor(values: PsPrivateAccessStoreAttributes) {
    this.dataValues = values
  }

  /** Primary key. */
  get id(): number {
    return this.dataValues.id
  }
  /** ID of the group this key is associated with. */
  get group_id(): number {
    return this.dataValues.group_id
  }
  /** ID of the user who added the key. */
  get user_id(): number {
    return this.dataValues.user_id
  }
  /** Optional: ID of the AI model this key is for. */
  get ai_model_id(): number | undefined {
    return this.dataValues.ai_model_id ?? undefined
  }
  /** Optional: ID of the external API this key is for. */
  get external_api_id(): number | undefined {
    return this.dataValues.external_api_id ?? undefined
  }
  /** The API key, AES-256-GCM encrypted: `hex(iv):hex(tag):hex(ciphertext)`. */
  get encrypted_api_key(): string {
    return this.dataValues.encrypted_api_key
  }
  /** The AES key, RSA-OAEP encrypted, base64. */
  get encrypted_aes_key(): string {
    return this.dataValues.encrypted_aes_key
  }
  /** Budget and notification thresholds, as stored. */
  get configuration(): PsPrivateAccessStoreConfiguration {
    return this.dataValues.configuration
  }
  /** Usage counters of the current day and month, and in total. */
  get usage(): PsPrivateAccessStoreUsage {
    return this.dataValues.usage
  }
  /** Creation timestamp. */
  get created_at(): Date {
    return this.dataValues.created_at as Date
  }
  /** Last update timestamp. */
  get updated_at(): Date {
    return this.dataValues.updated_at as Date
  }
  /** Last time this key was used. */
  get last_used_at(): Date | undefined {
    return this.dataValues.last_used_at ?? undefined
  }
  /** Whether this key is currently active. */
  get is_active(): boolean {
    return this.dataValues.is_active
  }
  /** (Association) The group; not loaded by this package, always `undefined`. */
  get Group(): YpGroupData | undefined {
    return undefined
  }
  /** (Association) The user; not loaded by this package, always `undefined`. */
  get User(): YpUserData | undefined {
    return undefined
  }

  /** One attribute, or (no argument, or `{ plain: true }`) all of them as a plain object. */
  get(key?: keyof PsPrivateAccessStoreAttributes | { plain?: boolean }): unknown {
    return typeof key === 'string' ? this.dataValues[key] : this.toJSON()
  }

  /** The record's attributes as a plain object (what `JSON.stringify` uses). */
  toJSON(): PsPrivateAccessStoreAttributes {
    return { ...this.dataValues }
  }

  /**
   * Set up explicitly (database URL, PEM keys, pool, budgets, cache). Options left out come
   * from the environment; no argument returns to the environment alone. Unknown option names
   * and bad values throw here (`PSPAS_CONFIG`), naming the option, never its value.
   */
  static configure(options?: PsPrivateAccessStoreOptions | null): void {
    const o = options ?? {}
    if (typeof o !== 'object') {
      throw new PsPrivateAccessStoreError('PSPAS_CONFIG', 'configure() takes an options object')
    }
    const given: Partial<Record<OptionName, string | number | boolean>> = {}
    for (const [name, value] of Object.entries(o)) {
      if (!Object.prototype.hasOwnProperty.call(OPTION_TYPES, name)) {
        throw new PsPrivateAccessStoreError(
          'PSPAS_CONFIG',
          `Unknown option ${JSON.stringify(name)}; the options are ${Object.keys(OPTION_TYPES).join(', ')}`,
        )
      }
      if (value === undefined || value === null) continue
      const type = OPTION_TYPES[name as OptionName]
      if (typeof value !== type) {
        throw new PsPrivateAccessStoreError('PSPAS_CONFIG', `${name} must be a ${type}`)
      }
      given[name as OptionName] = value as string | number | boolean
    }
    const { publicKey, privateKey, previousPrivateKeys, ...rest } = given
    const nativeOptions = rest as Native.NativeOptions
    sync(() => native.NativeStore.checkOptions(nativeOptions))
    sync(() =>
      native.checkConfiguredKeys(
        (publicKey as string | undefined) ?? null,
        (privateKey as string | undefined) ?? null,
        (previousPrivateKeys as string | undefined) ?? null,
      ),
    )
    void closeAll()
    state.publicKey = publicKey as string | undefined
    state.privateKey = privateKey as string | undefined
    state.previousPrivateKeys = previousPrivateKeys as string | undefined
    state.privatePem = null
    state.previousPems = null
    state.privateHandle = null
    state.native = nativeOptions
  }

  /** Close the database pools this caller opened; the next call reconnects. */
  static async close(): Promise<void> {
    await settle(closeAll())
  }

  /**
   * Encrypts an API key using AES-256-GCM with a random key, and encrypts that key with the
   * RSA public key (`RSA_API_ENCRYPTION_PUBLIC_KEY`). Synchronous, as in the original.
   */
  static encryptApiKey(apiKey: string): { encryptedApiKey: string; encryptedAesKey: string } {
    const pem = publicKeyPem()
    // Without a key, the native call throws the original's sentence before reading apiKey.
    return sync(() =>
      native.seal(pem, pem === null ? '' : string(apiKey, 'apiKey'), state.publicKey !== undefined),
    )
  }

  /**
   * Decrypts an API key with the RSA private key (`RSA_API_ENCRYPTION_PRIVATE_KEY`).
   * Synchronous, as in the original.
   */
  static decryptApiKey(encryptedApiKey: string, encryptedAesKey: string): string {
    const key = privateKey()
    return sync(() =>
      currentStore().decrypt(
        key,
        string(encryptedApiKey, 'encryptedApiKey'),
        string(encryptedAesKey, 'encryptedAesKey'),
      ),
    )
  }

  /**
   * Adds a new pre-encrypted API key to the store (usage zero, active). Rejects with
   * `Invalid encrypted key format` unless `encryptedApiKey` is three `:`-separated hex parts
   * and `encryptedAesKey` canonical base64; nothing is written then.
   */
  static async addPreEncryptedKey(
    groupId: number,
    userId: number,
    aiModelId: number | undefined,
    externalApiId: number | undefined,
    encryptedApiKey: string,
    encryptedAesKey: string,
    configuration: PsPrivateAccessStoreConfiguration,
  ): Promise<PsPrivateAccessStore> {
    number(groupId, 'groupId')
    number(userId, 'userId')
    const model = optionalId(aiModelId, 'aiModelId')
    const api = optionalId(externalApiId, 'externalApiId')
    string(encryptedApiKey, 'encryptedApiKey')
    string(encryptedAesKey, 'encryptedAesKey')
    if (typeof configuration !== 'object' || configuration === null) {
      throw new PsPrivateAccessStoreError(
        'PSPAS_INVALID_CONFIGURATION',
        'Invalid configuration: configuration must be an object',
      )
    }
    const json = configurationJson(configuration)
    const text = await settle(
      currentStore().add(groupId, userId, model, api, encryptedApiKey, encryptedAesKey, json),
    )
    return record(JSON.parse(text))
  }

  /**
   * Retrieves the group's keys (encrypted), optionally filtered, ordered
   * `is_active DESC, id ASC`.
   */
  static async getApiKeys(
    groupId: number,
    options?: GetApiKeysOptions,
  ): Promise<PsPrivateAccessStore[]> {
    number(groupId, 'groupId')
    const filter = filterOf(optionsObject(options))
    const text = await settle(currentStore().list(groupId, filter))
    return (JSON.parse(text) as Array<Record<string, unknown>>).map(record)
  }

  /**
   * Atomically adds `incrementAmount` (default 1) to the usage of the group's first active
   * matching key with budget room and returns that key decrypted; `null` when there is none
   * (see `getBudgetStatus` for why). A key that cannot be decrypted rejects and counts
   * nothing.
   */
  static async incrementUsageAndGetApiKey(
    groupId: number,
    options?: IncrementUsageOptions,
  ): Promise<string | null> {
    number(groupId, 'groupId')
    const o = optionsObject(options)
    const filter = filterOf(o)
    const amount = o.incrementAmount === undefined ? 1 : number(o.incrementAmount, 'incrementAmount')
    let out
    try {
      out = await currentStore().increment(groupId, filter, amount, privateKey())
    } catch (e) {
      throw convertError(e)
    }
    if (out.events !== null) emit(out.events)
    return out.apiKey
  }

  /** Sets the active status of a key; `true` if a row was updated. */
  static async setKeyStatus(id: number, isActive: boolean): Promise<boolean> {
    number(id, 'id')
    if (typeof isActive !== 'boolean') throw invalid('isActive must be a boolean')
    return settle(currentStore().setActive(id, isActive))
  }

  /** The usage counters of a key (current day and month, and total), or `null`. */
  static async getUsage(id: number): Promise<PsPrivateAccessStoreUsage | null> {
    number(id, 'id')
    const text = await settle(currentStore().usage(id))
    return text === null ? null : (JSON.parse(text) as PsPrivateAccessStoreUsage)
  }

  /**
   * Where a key stands against its budgets now (per period: used, limit, remaining, period
   * start), and whether it is active: tells "over budget" from "no key". `null` for an
   * unknown id.
   */
  static async getBudgetStatus(id: number): Promise<PsBudgetStatus | null> {
    number(id, 'id')
    const text = await settle(currentStore().budgetStatus(id))
    return text === null ? null : withDates(JSON.parse(text) as PsBudgetStatus)
  }

  /**
   * Subscribe to budget events (thresholds crossed, first refusals per period) caused by
   * calls made here. Returns the function that unsubscribes. A listener that throws is
   * reported with `process.emitWarning` and affects nothing else.
   */
  /** Open the store now and create the table if it is missing (what the first call does). */
  static async migrate(): Promise<void> {
    await settle(currentStore().migrate())
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
  static async rotateKeys(options?: PsKeyRotationOptions): Promise<PsKeyRotationResult> {
    const o = batchOptions(options)
    const given = optionsObject(options).newPublicKey
    const newPublicKey = given === undefined ? null : string(given, 'newPublicKey')
    const started = process.hrtime.bigint()
    const out: PsKeyRotationResult = {
      total: 0,
      rotated: 0,
      alreadyCurrent: 0,
      cannotOpen: [],
      changedMeanwhile: 0,
      seconds: 0,
    }
    await eachBatch(o, async (store, after) => {
      const b = await store.rotateBatch(after, o.batchSize, privateKey(), newPublicKey)
      out.rotated += b.rotated
      out.alreadyCurrent += b.alreadyCurrent
      out.changedMeanwhile += b.changedMeanwhile
      out.cannotOpen.push(...b.cannotOpen)
      const rows = b.rotated + b.alreadyCurrent + b.cannotOpen.length + b.changedMeanwhile
      out.total += rows
      return { lastId: b.lastId ?? null, rows }
    })
    out.seconds = Number(process.hrtime.bigint() - started) / 1e9
    return out
  }

  /**
   * Check that every row's data key opens: with the current private key (`ok`), only with a
   * previous one (`previousKey`), or with none (`cannotOpen`, by id). Reads only; never
   * returns or logs a secret.
   */
  static async verifyKeys(options?: PsKeyBatchOptions): Promise<PsKeyVerificationResult> {
    const o = batchOptions(options)
    const out: PsKeyVerificationResult = { total: 0, ok: 0, previousKey: 0, cannotOpen: [] }
    await eachBatch(o, async (store, after) => {
      const b = await store.verifyBatch(after, o.batchSize, privateKey())
      out.ok += b.ok
      out.previousKey += b.previousKey
      out.cannotOpen.push(...b.cannotOpen)
      const rows = b.ok + b.previousKey + b.cannotOpen.length
      out.total += rows
      return { lastId: b.lastId ?? null, rows }
    })
    return out
  }

  static onBudgetEvent(listener: (event: PsBudgetEvent) => void): () => void {
    if (typeof listener !== 'function') throw invalid('listener must be a function')
    // Each subscription is its own entry, even for the same function.
    const entry = (event: PsBudgetEvent): void => listener(event)
    state.listeners.add(entry)
    return () => {
      state.listeners.delete(entry)
    }
  }

  /** Checks that an encrypted API key is three `:`-separated hex parts (the original's check). */
  private static isValidEncryptedFormat(encryptedApiKey: string): boolean {
    return typeof encryptedApiKey === 'string' && native.isValidEncryptedFormat(encryptedApiKey)
  }

  /** Checks that a string is non-empty hexadecimal. */
  private static isValidHex(str: string): boolean {
    return typeof str === 'string' && native.isValidHex(str)
  }

  /** Checks that a string is canonical standard base64. */
  private static isValidBase64(str: string): boolean {
    return typeof str === 'string' && native.isValidBase64(str)
  }

  /** Blocked, as in the original: warns and rejects. Use `incrementUsageAndGetApiKey`. */
  static async findAll(..._args: unknown[]): Promise<never> {
    return blocked('findAll')
  }

  /** Blocked, as in the original: warns and rejects. Use `incrementUsageAndGetApiKey`. */
  static async findOne(..._args: unknown[]): Promise<never> {
    return blocked('findOne')
  }

  /** Blocked, as in the original: warns and rejects. Use `incrementUsageAndGetApiKey`. */
  static async findByPk(..._args: unknown[]): Promise<never> {
    return blocked('findByPk')
  }
}

function blocked(name: 'findAll' | 'findOne' | 'findByPk'): never {
  console.warn(
    `Warning: Attempted to use unsecured method ${name}. Use incrementUsageAndGetApiKey instead.`,
  )
  sync(() => native.blockedMethod(name))
  throw new PsPrivateAccessStoreError('PSPAS_INTERNAL', `${name} is blocked`)
}

/**
 * Set-up: `configure()` options and the caller's `process.env`, read through the settings
 * table (`settings.generated.ts`, generated from `src/settings/table.rs`). Keeps this realm's state:
 * the configured options, the native handle per database set-up, the private-key handle.
 */

import { createHash } from 'node:crypto'
import * as os from 'node:os'
import { configError, sync } from './errors'
import { native, type Native } from './native'
import { type PsPrivateAccessStoreOptions, SETTINGS, type SettingRow } from './settings.generated'

type OptionName = keyof PsPrivateAccessStoreOptions
type OptionValue = string | number | boolean

/** The variables that name a database set-up (snapshotted from the caller's `process.env`). */
const SETUP_VARIABLES = SETTINGS.filter((s) => s.scope === 'setup').flatMap((s) => s.env)

const BY_OPTION = new Map<string, SettingRow>(
  SETTINGS.filter((s) => s.option !== null).map((s) => [s.option as string, s]),
)

/** The environment variables of a call-scope option (the RSA keys), first set one wins. */
function callVariable(option: OptionName): string | null {
  for (const name of BY_OPTION.get(option)?.env ?? []) {
    const v = process.env[name]
    if (v !== undefined && v !== '') return v
  }
  return null
}

/** This realm's set-up: configured options and the native handles opened for it. */
const state = {
  /** Configured call-scope options (the RSA keys), read at each call. */
  keys: {} as Partial<Record<OptionName, string>>,
  /** Configured setup-scope options, passed to the native set-up. */
  native: {} as Record<string, OptionValue>,
  /**
   * Handles by a SHA-256 of the values of `SETUP_VARIABLES` they were opened for (a digest, so
   * the map keeps no long-lived copy of `DATABASE_URL` or `PSQL_DB_PASS` joined together).
   */
  handles: new Map<string, Native.NativeStore>(),
  /** The last handle and the variable values it was found for (the common case: unchanged). */
  last: null as { values: Array<string | undefined>; handle: Native.NativeStore } | null,
  /** The private keys as last read, and their native handle (digested once, not per call). */
  privatePem: null as string | null,
  previousPems: null as string | null,
  privateHandle: null as Native.NativePrivateKey | null,
}

/**
 * Check and apply `configure()` options: unknown names and wrong types throw `PSPAS_CONFIG`
 * naming the option (never its value); values are checked by the core.
 */
export function configure(options: PsPrivateAccessStoreOptions | null | undefined): void {
  const o = options ?? {}
  if (typeof o !== 'object') throw configError('configure() takes an options object')
  const keys: Partial<Record<OptionName, string>> = {}
  const setup: Record<string, OptionValue> = {}
  for (const [name, value] of Object.entries(o)) {
    const row = BY_OPTION.get(name)
    if (row === undefined) {
      throw configError(
        `Unknown option ${JSON.stringify(name)}; the options are ${[...BY_OPTION.keys()].join(', ')}`,
      )
    }
    if (value === undefined || value === null) continue
    if (typeof value !== row.type) throw configError(`${name} must be a ${row.type}`)
    if (row.scope === 'call') keys[name as OptionName] = value as string
    else setup[name] = value as OptionValue
  }
  sync(() => native.NativeStore.checkOptions(setup))
  sync(() =>
    native.checkConfiguredKeys(keys.publicKey ?? null, keys.privateKey ?? null, keys.previousPrivateKeys ?? null),
  )
  void closeAll()
  state.keys = keys
  state.native = setup
  state.privatePem = null
  state.previousPems = null
  state.privateHandle = null
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
export function currentStore(): Native.NativeStore {
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
  const hash = createHash('sha256')
  for (const v of values) hash.update(v === undefined ? '\u0001' : v + '\u0000')
  const key = hash.digest('base64')
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

/** The public key as of now: configured, else the caller's environment. */
export function publicKey(): { pem: string | null; configured: boolean } {
  const configured = state.keys.publicKey
  return configured !== undefined
    ? { pem: configured, configured: true }
    : { pem: callVariable('publicKey'), configured: false }
}

/**
 * The private key as of now (configured, else the caller's environment) with the previous
 * keys of a rotation, as a native handle made once per distinct set of PEMs.
 */
export function privateKey(): Native.NativePrivateKey | null {
  const pem = state.keys.privateKey ?? callVariable('privateKey')
  const previous = state.keys.previousPrivateKeys ?? callVariable('previousPrivateKeys')
  if (pem !== state.privatePem || previous !== state.previousPems) {
    const configured = state.keys.privateKey !== undefined || state.keys.previousPrivateKeys !== undefined
    state.privateHandle = pem === null ? null : sync(() => new native.NativePrivateKey(pem, configured, previous))
    state.privatePem = pem
    state.previousPems = previous
  }
  return state.privateHandle
}

/**
 * The private keys for binding a key being added to its group, or `null` when they are unset
 * or do not parse: adding never fails for want of them (the key is then stored as given, or
 * refused under `groupBinding: 'required'`).
 */
export function bindingKey(): Native.NativePrivateKey | null {
  try {
    return privateKey()
  } catch {
    return null
  }
}

/** Close every pool this realm opened; the next call reconnects. */
export function closeAll(): Promise<void> {
  const handles = [...state.handles.values()]
  state.handles.clear()
  state.last = null
  return Promise.all(handles.map((h) => h.close())).then(() => undefined)
}

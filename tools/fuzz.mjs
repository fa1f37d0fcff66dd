// Fuzzing the public entry (`npm run fuzz`; issue 19): a seeded run of random calls on the
// package's public static methods with hostile arguments, on PostgreSQL and SQLite.
//
//   node tools/fuzz.mjs [--calls 10000] [--seed N] [--backend pg|sqlite|both] [--json] [--strict]
//
// Every call (sync methods too) is awaited; when it throws or rejects, the failure must be an
// `Error` whose `code` matches /^PSPAS_[A-Z_]+$/ (counted by code), otherwise it is "uncoded"
// (method and a redacted description of the arguments are reported; never a key). For the
// methods that write, the package's four tables are digested before and after the call; a
// rejected call must leave them unchanged ("written by rejected calls", with method, code and
// what changed). A few valid keys are stored first, on groups 1 to 5, so that some calls
// succeed. Exit 1 on any uncoded failure, write by a rejected call, hung call or unhandled
// rejection. Needs the local PostgreSQL (PSPAS_TEST_PG_URL) and python3 (SQLite digests).
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { randomBytes } from 'node:crypto'

const require = createRequire(import.meta.url)
const { freshPostgres, freshSqlite, generateKeys, connect } = require('./harness/index.cjs')
const { PsPrivateAccessStore: S } = require('..')

// ------------------------------------------------------------------ arguments
const argv = process.argv.slice(2)
function opt(name, fallback) {
  const i = argv.indexOf(`--${name}`)
  return i === -1 ? fallback : argv[i + 1]
}
const CALLS = Number(opt('calls', 10000))
const SEED = Number(opt('seed', Date.now() % 2 ** 31)) >>> 0
const BACKEND = opt('backend', 'both')
const JSON_OUT = argv.includes('--json')
// Without --strict, a rejected write whose only writes are those of a reversal after
// PSPAS_DECRYPT_FAILED (see reversalOnly) is reported on its own line and does not fail the run.
const STRICT = argv.includes('--strict')
const CALL_TIMEOUT_MS = 30000
if (!Number.isInteger(CALLS) || CALLS < 1 || !['pg', 'sqlite', 'both'].includes(BACKEND)) {
  process.stderr.write('usage: node tools/fuzz.mjs [--calls N] [--seed N] [--backend pg|sqlite|both] [--json] [--strict]\n')
  process.exit(2)
}

let unhandled = 0
process.on('unhandledRejection', (e) => {
  unhandled++
  process.stderr.write(`unhandled rejection: ${e && e.code ? e.code : typeof e}\n`)
})
// The blocked Sequelize finders warn on every call: keep the output to the summary.
let warnings = 0
process.removeAllListeners('warning')
process.on('warning', () => warnings++)
const consoleWarn = console.warn
console.warn = () => warnings++

// ------------------------------------------------------------------ seeded randomness
function mulberry32(a) {
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
let rand = mulberry32(SEED)
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1))
const pick = (arr) => arr[Math.floor(rand() * arr.length)]
const chance = (p) => rand() < p
const hex = (n) => Array.from({ length: n }, () => '0123456789abcdef'[int(0, 15)]).join('')
const swapCase = (s) => s.replace(/[a-zA-Z]/g, (c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()))

// ------------------------------------------------------------------ hostile values
const HUGE = 'x'.repeat(100 * 1024)
const HOSTILE_NUMBERS = [-1, 0, -0, 1.5, -2.5, NaN, Infinity, -Infinity, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, 2 ** 31, 2 ** 31 - 1, -(2 ** 31) - 1, 1e15, 1e15 + 1, 1e16, Number.MIN_VALUE, Number.EPSILON, 0.1 + 0.2]
const HOSTILE_STRINGS = () => [
  '',
  ' ',
  HUGE,
  'x'.repeat(int(256, 4096)),
  '💥ü\u0000\uFFFF\uD800',
  'Ω≈ç√∫˜µ≤≥÷',
  '0xdeadbeef',
  'deadbeef',
  'aa:bb:cc',
  'AA:BB:CC',
  'aa:bb',
  'aa:bb:cc:dd',
  '::',
  'zz:zz:zz',
  `${hex(24)}:${hex(32)}:${hex(int(0, 64))}`,
  'aGVsbG8=',
  'aGVsbG8',
  'aGVs bG8=',
  '====',
  '1',
  ' 1 ',
  '1e3',
  'NaN',
  'null',
  'true',
  "'; DROP TABLE ps_private_access_store; --",
  '%s%n%x',
  `rsv_${hex(32)}`,
  `rsv_${hex(31)}`,
  `RSV_${hex(32).toUpperCase()}`,
  String(int(1, 50)),
  '-1',
  '9'.repeat(40),
]
const HOSTILE_OTHER = () => [
  null,
  undefined,
  {},
  [],
  [1, 2, 3],
  [null],
  { a: 1 },
  Object.create(null),
  { valueOf: () => 1, toString: () => '1' },
  10n,
  -(2n ** 70n),
  Symbol('s'),
  () => 1,
  async () => 1,
  new Date(),
  new Date(NaN),
  /re/,
  new Map([[1, 2]]),
  new Set([1]),
  Buffer.from('aa:bb:cc'),
  new Uint8Array(4),
  true,
  false,
  new Error('x'),
  Promise.resolve(1),
  { maxBudget: 'x' },
  { maxBudget: { perDay: NaN, petMonth: -1, total: Infinity } },
  deepJunk(int(1, 4)),
]
function deepJunk(depth) {
  if (depth === 0) return pick([1, 'x', null, -1, NaN, [], {}, true])
  const o = {}
  for (let i = 0; i < int(1, 4); i++) o[pick(['maxBudget', 'perDay', 'petMonth', 'total', 'daily', 'monthly', 'emailNotificationBudgetThresholds', '__proto__', 'constructor', 'x'])] = deepJunk(depth - 1)
  return o
}
function hostile() {
  const r = rand()
  if (r < 0.3) return pick(HOSTILE_NUMBERS)
  if (r < 0.65) return pick(HOSTILE_STRINGS())
  return pick(HOSTILE_OTHER())
}

// ------------------------------------------------------------------ state of the run
// Ciphertexts of real keys, reservation ids and event ids seen during the run (valid inputs).
const state = { sealed: [], maxId: 0, reservations: [], eventIds: [], requestIds: [] }

function validConfig() {
  if (chance(0.2)) return {}
  return {
    maxBudget: { perDay: pick([0, 10, 100, 1000]), petMonth: pick([0, 100, 10000]), total: pick([0, 1000, 100000]) },
    emailNotificationBudgetThresholds: { daily: pick([0.5, 0.8, 0.9, 50]), monthly: pick([0.5, 0.9, 500]) },
  }
}
function config() {
  const r = rand()
  if (r < 0.4) return validConfig()
  if (r < 0.7) {
    const c = validConfig()
    const path = pick([['maxBudget', 'perDay'], ['maxBudget', 'petMonth'], ['maxBudget', 'total'], ['emailNotificationBudgetThresholds', 'daily'], ['emailNotificationBudgetThresholds', 'monthly'], ['maxBudget'], ['extra']])
    if (path.length === 1) c[path[0]] = hostile()
    else {
      c[path[0]] = { ...(c[path[0]] || {}) }
      c[path[0]][path[1]] = hostile()
    }
    return c
  }
  return chance(0.5) ? deepJunk(int(1, 4)) : hostile()
}
const maybe = (valid, p = 0.6) => (chance(p) ? valid() : hostile())
const groupId = () => maybe(() => int(1, 6), 0.75)
const userId = () => maybe(() => int(1, 10))
const optionalId = () => maybe(() => pick([undefined, null, int(1, 3)]))
const keyId = () => maybe(() => int(1, state.maxId + 2), 0.75)
const amount = () => maybe(() => pick([1, 1, 2, 5, 0.5, 10, 250]), 0.6)
const requestId = () => {
  if (chance(0.4) && state.requestIds.length) return pick(state.requestIds)
  if (chance(0.7)) {
    const id = `req-${hex(8)}`
    state.requestIds.push(id)
    return id
  }
  return hostile()
}
function sealedPair() {
  const base = state.sealed.length ? pick(state.sealed) : S.encryptApiKey('sk-fuzz-fallback')
  const r = rand()
  if (r < 0.3) return [base.encryptedApiKey, base.encryptedAesKey]
  if (r < 0.45) return [swapCase(base.encryptedApiKey), base.encryptedAesKey]
  if (r < 0.55) return [base.encryptedApiKey.slice(0, int(0, base.encryptedApiKey.length - 1)), base.encryptedAesKey]
  if (r < 0.65) return [base.encryptedApiKey, base.encryptedAesKey.slice(0, int(0, base.encryptedAesKey.length - 1))]
  if (r < 0.72) return [base.encryptedApiKey, swapCase(base.encryptedAesKey)]
  if (r < 0.8) return [`${hex(24)}:${hex(32)}:${hex(2 * int(1, 40))}`, base.encryptedAesKey] // right format, wrong data
  if (r < 0.85) return [pick(state.sealed.length ? state.sealed : [base]).encryptedApiKey, base.encryptedAesKey]
  return [maybe(() => base.encryptedApiKey, 0.3), maybe(() => base.encryptedAesKey, 0.3)]
}
function filters(o = {}) {
  if (chance(0.5)) o.aiModelId = maybe(() => pick([undefined, null, int(1, 3)]))
  if (chance(0.3)) o.externalApiId = maybe(() => pick([undefined, null, int(1, 3)]))
  if (chance(0.3)) o.isActive = maybe(() => pick([true, false, null, undefined]))
  if (chance(0.05)) o[pick(['unknown', 'incrementamount', 'groupId'])] = hostile()
  return o
}
const options = (build) => (chance(0.85) ? build() : hostile())
const reservationId = () => {
  const r = rand()
  if (r < 0.5 && state.reservations.length) return pick(state.reservations)
  if (r < 0.7) return `rsv_${hex(32)}`
  return hostile()
}
const eventId = () => (chance(0.5) && state.eventIds.length ? pick(state.eventIds) : chance(0.5) ? String(int(1, 60)) : hostile())

// method -> [write?, weight, () => argument list]
const METHODS = {
  encryptApiKey: [false, 3, () => [maybe(() => `sk-${hex(int(1, 60))}`, 0.5)]],
  decryptApiKey: [false, 4, () => sealedPair()],
  isValidEncryptedFormat: [false, 2, () => [maybe(() => sealedPair()[0], 0.5)]],
  isValidHex: [false, 1, () => [hostile()]],
  isValidBase64: [false, 1, () => [maybe(() => sealedPair()[1], 0.5)]],
  getDiagnostics: [false, 1, () => (chance(0.5) ? [] : [hostile()])],
  addPreEncryptedKey: [true, 6, () => [groupId(), userId(), optionalId(), optionalId(), ...sealedPair(), config()]],
  getApiKeys: [false, 4, () => [groupId(), options(() => filters())]],
  incrementUsageAndGetApiKey: [
    true,
    12,
    () => {
      if (chance(0.1)) return [groupId()]
      return [groupId(), options(() => {
        const o = filters()
        if (chance(0.6)) o.incrementAmount = amount()
        if (chance(0.5)) o.requestId = requestId()
        return o
      })]
    },
  ],
  reserveUsageAndGetApiKey: [
    true,
    10,
    () => [groupId(), options(() => {
      const o = filters()
      if (chance(0.9)) o.estimate = amount()
      if (chance(0.4)) o.requestId = requestId()
      if (chance(0.3)) o.ttlMs = maybe(() => pick([1, 1000, 600000, 2592000000, 2592000001, 0]), 0.6)
      return o
    })],
  ],
  settleUsage: [true, 8, () => [reservationId(), amount()]],
  releaseUsage: [true, 6, () => [reservationId()]],
  setKeyStatus: [true, 5, () => [keyId(), maybe(() => chance(0.8), 0.7)]],
  setConfiguration: [true, 5, () => [keyId(), config()]],
  getUsage: [false, 3, () => [keyId()]],
  getBudgetStatus: [false, 3, () => [keyId()]],
  claimBudgetEvents: [
    true,
    4,
    () => [options(() => {
      const o = {}
      if (chance(0.9)) o.consumer = maybe(() => `fuzz-${int(1, 3)}`, 0.7)
      if (chance(0.5)) o.limit = maybe(() => int(1, 20), 0.6)
      if (chance(0.5)) o.leaseMs = maybe(() => pick([1, 10, 1000, 30000]), 0.6)
      if (chance(0.4)) o.maxAttempts = maybe(() => int(1, 5), 0.6)
      return o
    })],
  ],
  ackBudgetEvents: [true, 3, () => [chance(0.8) ? Array.from({ length: int(0, 4) }, eventId) : hostile()]],
  listBudgetEvents: [
    false,
    2,
    () => (chance(0.2) ? [] : [options(() => {
      const o = {}
      if (chance(0.5)) o.state = maybe(() => pick(['pending', 'acked', 'parked']), 0.6)
      if (chance(0.5)) o.limit = maybe(() => int(1, 50), 0.6)
      return o
    })]),
  ],
  retryBudgetEvent: [true, 3, () => [eventId()]],
  verifyKeys: [false, 1, () => (chance(0.3) ? [] : [options(() => ({ batchSize: maybe(() => int(1, 50), 0.5) }))])],
  bindKeys: [true, 1, () => (chance(0.3) ? [] : [options(() => ({ batchSize: maybe(() => int(1, 50), 0.5) }))])],
  onBudgetEvent: [false, 1, () => [maybe(() => () => {}, 0.3)]],
  findAll: [false, 1, () => [hostile()]],
  findOne: [false, 1, () => [hostile()]],
  findByPk: [false, 1, () => [keyId()]],
}
const WEIGHTED = Object.entries(METHODS).flatMap(([name, [, w]]) => Array(w).fill(name))

/** A short description of an argument that shows no secret (strings by length only). */
function describe(v, depth = 0) {
  if (typeof v === 'string') return `string(${v.length})`
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v)
  if (typeof v === 'bigint') return 'bigint'
  if (typeof v === 'symbol') return 'symbol'
  if (typeof v === 'function') return 'function'
  if (Array.isArray(v)) return depth > 1 ? 'array' : `[${v.map((x) => describe(x, depth + 1)).join(',')}]`
  const ctor = Object.getPrototypeOf(v)?.constructor?.name ?? 'null-proto'
  if (depth > 1) return ctor
  let keys
  try {
    keys = Object.keys(v)
  } catch {
    return ctor
  }
  return `${ctor === 'Object' ? '' : ctor}{${keys.map((k) => `${k}:${describe(v[k], depth + 1)}`).join(',')}}`
}

// ------------------------------------------------------------------ table digests
const TABLES = ['ps_private_access_store', 'ps_private_access_requests', 'ps_private_access_holds', 'ps_private_access_events']

/** PostgreSQL: md5 per table (string_agg of the rows' text) and the store's rows, secrets as md5. */
async function pgDigester(db) {
  const client = await connect(db.directUrl)
  const sql =
    'SELECT ' +
    TABLES.map((t) => `(SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) || ' ' || count(*) FROM ${t} t) AS ${t}`).join(', ') +
    `, (SELECT json_agg(to_jsonb(t) - 'encrypted_api_key' - 'encrypted_aes_key' || jsonb_build_object('sealed_md5', md5(encrypted_api_key || encrypted_aes_key)) ORDER BY id) FROM ps_private_access_store t)::text AS rows`
  return {
    digest: async () => {
      const { rows } = await client.query(sql)
      const r = rows[0]
      return { tables: Object.fromEntries(TABLES.map((t) => [t, r[t]])), rows: JSON.parse(r.rows || '[]') }
    },
    close: () => client.end(),
  }
}

/** SQLite: the same, from one python3 process that reads a line per digest. */
async function sqliteDigester(db) {
  const script = `
import hashlib, json, sqlite3, sys
TABLES = ${JSON.stringify(TABLES)}
for line in sys.stdin:
    c = sqlite3.connect(sys.argv[1])
    out = {'tables': {}, 'rows': []}
    for t in TABLES:
        rows = sorted(repr(r) for r in c.execute('SELECT * FROM ' + t).fetchall())
        out['tables'][t] = hashlib.md5('|'.join(rows).encode()).hexdigest() + ' ' + str(len(rows)) if rows else None
    cur = c.execute('SELECT * FROM ps_private_access_store ORDER BY id')
    cols = [d[0] for d in cur.description]
    for r in cur.fetchall():
        row = dict(zip(cols, r))
        row['sealed_md5'] = hashlib.md5((str(row.pop('encrypted_api_key')) + str(row.pop('encrypted_aes_key'))).encode()).hexdigest()
        out['rows'].append(row)
    c.close()
    sys.stdout.write(json.dumps(out, default=str) + '\\n')
    sys.stdout.flush()
`
  const py = spawn('python3', ['-c', script, db.file], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]()
  return {
    digest: async () => {
      py.stdin.write('d\n')
      const { value, done } = await lines.next()
      if (done) throw new Error('the SQLite digest process ended')
      return JSON.parse(value)
    },
    close: async () => {
      py.stdin.end()
      await new Promise((resolve) => py.once('exit', resolve))
    },
  }
}

/** SQLite hands JSON columns over as text: compare them parsed. */
function normal(v) {
  if (typeof v === 'string' && /^[[{]/.test(v)) {
    try {
      return JSON.parse(v)
    } catch {
      return v
    }
  }
  return v
}

/** What changed between two digests: tables, and per store row the columns. */
function changes(before, after) {
  const out = []
  // Each table's digest ends with its row count.
  const count = (d) => (d === null ? 0 : Number(d.split(' ')[1]))
  for (const t of TABLES) if (before.tables[t] !== after.tables[t]) out.push(`${t} changed (rows ${count(before.tables[t])} -> ${count(after.tables[t])})`)
  const byId = new Map(before.rows.map((r) => [r.id, r]))
  for (const r of after.rows) {
    const b = byId.get(r.id)
    if (!b) {
      out.push(`store row ${r.id} added`)
      continue
    }
    byId.delete(r.id)
    const cols = Object.keys(r).filter((k) => JSON.stringify(normal(r[k])) !== JSON.stringify(normal(b[k])))
    // Counters and timestamps only (the sealed columns are compared by md5, never shown).
    const shown = (k) => (k === 'sealed_md5' ? k : `${k} ${JSON.stringify(normal(b[k]))} -> ${JSON.stringify(normal(r[k]))}`)
    if (cols.length) out.push(`store row ${r.id}: ${cols.map(shown).join(', ')}`)
  }
  for (const id of byId.keys()) out.push(`store row ${id} removed`)
  return out
}

/**
 * Whether a rejected write wrote only what the reversal of an increment or reserve that counted
 * and then could not decrypt its key writes (the call rejects with PSPAS_DECRYPT_FAILED and
 * "counts nothing"): the served key's counters and live holds restored, but its `updated_at`,
 * `last_used_at` and usage bookkeeping (`periodDay`, `periodMonth`, `notified`) written; keys
 * that refused the call first marked `notified` with their refusal events in the outbox (the
 * documented "events of keys that refused the call are delivered"); for a reserve, one
 * reservation record left in ps_private_access_holds (state `released`). Anything else, or any
 * counter or hold that changed, is a violation.
 */
function reversalOnly(method, code, before, after) {
  if (code !== 'PSPAS_DECRYPT_FAILED' || !['incrementUsageAndGetApiKey', 'reserveUsageAndGetApiKey'].includes(method)) return false
  const count = (d) => (d === null ? 0 : Number(d.split(' ')[1]))
  if (before.tables.ps_private_access_requests !== after.tables.ps_private_access_requests) return false
  const holdsAdded = count(after.tables.ps_private_access_holds) - count(before.tables.ps_private_access_holds)
  if (before.tables.ps_private_access_holds !== after.tables.ps_private_access_holds && !(method === 'reserveUsageAndGetApiKey' && holdsAdded === 1)) return false
  if (count(after.tables.ps_private_access_events) < count(before.tables.ps_private_access_events)) return false
  if (before.rows.length !== after.rows.length) return false
  for (let i = 0; i < after.rows.length; i++) {
    const [b, a] = [before.rows[i], after.rows[i]]
    if (a.id !== b.id) return false
    for (const k of Object.keys(a)) {
      if (JSON.stringify(normal(a[k])) === JSON.stringify(normal(b[k]))) continue
      if (k === 'updated_at' || k === 'last_used_at') continue
      if (k !== 'usage') return false
      const [ub, ua] = [normal(b[k]), normal(a[k])]
      for (const f of new Set([...Object.keys(ub), ...Object.keys(ua)])) {
        if (['periodDay', 'periodMonth', 'notified'].includes(f)) continue
        if (JSON.stringify(ub[f]) !== JSON.stringify(ua[f])) return false // dailyUse, monthlyUse, totalUse, holds
      }
    }
  }
  return true
}

// ------------------------------------------------------------------ one backend
function withTimeout(p) {
  let timer
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('call did not settle'), { hung: true })), CALL_TIMEOUT_MS)
    }),
  ])
}

/** Remember what a successful call returned that later calls may use as valid input. */
function learn(method, result) {
  if (!result) return
  if (method === 'encryptApiKey' && state.sealed.length < 50) state.sealed.push(result)
  if (method === 'addPreEncryptedKey') state.maxId = Math.max(state.maxId, result.id)
  if (method === 'reserveUsageAndGetApiKey' && state.reservations.length < 200) state.reservations.push(result.reservationId)
  if ((method === 'claimBudgetEvents' || method === 'listBudgetEvents') && Array.isArray(result)) {
    for (const e of result) if (!state.eventIds.includes(e.eventId)) state.eventIds.push(e.eventId)
  }
  if (method === 'onBudgetEvent' && typeof result === 'function') result()
}

async function runBackend(kind) {
  rand = mulberry32(SEED) // the same sequence on each backend
  state.sealed = []
  state.maxId = 0
  state.reservations = []
  state.eventIds = []
  state.requestIds = []
  const db = kind === 'pg' ? await freshPostgres('fuzz', { bouncerPort: null }) : await freshSqlite('fuzz')
  const keys = generateKeys()
  const setup = { databaseUrl: db.url, publicKey: keys.publicKey, privateKey: keys.privateKey }
  S.configure(setup)
  await S.migrate()
  // Valid keys on groups 1 to 5 (group 5 without a budget), so that some calls succeed.
  for (let g = 1; g <= 5; g++) {
    for (let k = 0; k < 2; k++) {
      const sealed = S.encryptApiKey(`sk-fuzz-${g}-${k}-${randomBytes(8).toString('hex')}`)
      state.sealed.push(sealed)
      const configuration = g === 5 ? {} : { maxBudget: { perDay: 100 * g, petMonth: 1000 * g, total: 5000 * g }, emailNotificationBudgetThresholds: { daily: 0.8, monthly: 0.9 } }
      const row = await S.addPreEncryptedKey(g, 1, k === 0 ? undefined : 1, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, configuration)
      state.maxId = Math.max(state.maxId, row.id)
    }
  }
  const digester = kind === 'pg' ? await pgDigester(db) : await sqliteDigester(db)
  const stats = { backend: kind === 'pg' ? 'PostgreSQL' : 'SQLite', seed: SEED, calls: 0, successes: 0, failures: 0, byCode: {}, byMethod: {}, uncoded: [], internal: [], writtenByRejected: [], hung: 0, writeCallsChecked: 0, writesSeen: 0, reversals: [] }
  const started = Date.now()
  try {
    for (let i = 0; i < CALLS; i++) {
      const method = pick(WEIGHTED)
      const [write, , build] = METHODS[method]
      const args = build()
      const before = write ? await digester.digest() : null
      let result
      let error = null
      let failed = false
      try {
        result = await withTimeout(Promise.resolve().then(() => S[method](...args)))
      } catch (e) {
        failed = true
        error = e
      }
      stats.calls++
      const m = (stats.byMethod[method] ??= { calls: 0, ok: 0, failed: 0, codes: {} })
      m.calls++
      if (!failed) {
        stats.successes++
        m.ok++
        learn(method, result)
        // The digest's own check: successful writes must show up in it.
        if (write && changes(before, await digester.digest()).length) stats.writesSeen++
        continue
      }
      stats.failures++
      m.failed++
      const coded = error instanceof Error && typeof error.code === 'string' && /^PSPAS_[A-Z_]+$/.test(error.code)
      const code = coded ? error.code : error?.hung ? 'HUNG' : 'UNCODED'
      stats.byCode[code] = (stats.byCode[code] ?? 0) + 1
      m.codes[code] = (m.codes[code] ?? 0) + 1
      if (error?.hung) stats.hung++
      else if (!coded) {
        stats.uncoded.push({ call: i, method, args: args.map((a) => describe(a)), error: `${error?.constructor?.name ?? typeof error}${error?.code ? ` code=${String(error.code)}` : ''}` })
      } else if (code === 'PSPAS_INTERNAL' || code === 'PSPAS_DB_ERROR') {
        // A Rust panic crossing into Node arrives as PSPAS_INTERNAL: listed to be looked at.
        // The message names no value (the package's rule); cut short all the same.
        stats.internal.push({ call: i, method, code, args: args.map((a) => describe(a)), message: String(error.message).slice(0, 200) })
      }
      if (write) {
        stats.writeCallsChecked++
        const after = await digester.digest()
        const diff = changes(before, after)
        if (!diff.length) continue
        const entry = { call: i, method, code, args: args.map((a) => describe(a)), changed: diff }
        if (!STRICT && reversalOnly(method, code, before, after)) stats.reversals.push(entry)
        else stats.writtenByRejected.push(entry)
      }
    }
  } finally {
    stats.seconds = Math.round((Date.now() - started) / 100) / 10
    await digester.close()
    await S.close()
    S.configure(null)
    await db.drop()
  }
  return stats
}

// ------------------------------------------------------------------ main
function printSummary(all) {
  const out = []
  out.push(`fuzz: seed ${SEED}, ${CALLS} calls per backend`)
  for (const s of all) {
    out.push('')
    out.push(`== ${s.backend} (${s.seconds} s)`)
    out.push(`calls                  ${s.calls}`)
    out.push(`successes              ${s.successes}`)
    out.push(`failures               ${s.failures}`)
    for (const [code, n] of Object.entries(s.byCode).sort((a, b) => b[1] - a[1])) out.push(`  ${code.padEnd(28)} ${n}`)
    out.push(`uncoded                ${s.uncoded.length}`)
    out.push(`hung (> ${CALL_TIMEOUT_MS / 1000} s)           ${s.hung}`)
    out.push(`rejected write calls   ${s.writeCallsChecked} (tables digested before and after)`)
    out.push(`written by rejected    ${s.writtenByRejected.length}`)
    if (!STRICT) {
      out.push(`reversal writes        ${s.reversals.length} (PSPAS_DECRYPT_FAILED after counting: counters and holds restored; what was written:)`)
      const kinds = {}
      for (const r of s.reversals) {
        for (const c of r.changed) {
          const rows = /^(\S+) changed \(rows (\d+) -> (\d+)\)$/.exec(c)
          if (rows && rows[1] === 'ps_private_access_store') continue // shown per row below
          const kind = rows
            ? `${r.method}: ${rows[1]} +${rows[3] - rows[2]} row(s)`
            : `${r.method}: a key's ${['usage', 'updated_at', 'last_used_at'].filter((k) => c.includes(`${k} `)).join(', ')}`
          kinds[kind] = (kinds[kind] ?? 0) + 1
        }
      }
      for (const [k, n] of Object.entries(kinds).sort()) out.push(`  ${String(n).padStart(4)}  ${k}`)
    }
    out.push(`(digest check: ${s.writesSeen} successful write calls changed the tables)`)
    for (const u of s.uncoded.slice(0, 20)) out.push(`  UNCODED call ${u.call} ${u.method}(${u.args.join(', ')}): ${u.error}`)
    for (const u of s.internal.slice(0, 20)) out.push(`  ${u.code} call ${u.call} ${u.method}(${u.args.join(', ')}): ${u.message}`)
    for (const w of s.writtenByRejected.slice(0, 20)) out.push(`  WRITTEN call ${w.call} ${w.method} ${w.code}: ${w.changed.join('; ')}`)
  }
  out.push('')
  out.push(`unhandled rejections   ${unhandled}`)
  return out.join('\n')
}

const backends = BACKEND === 'both' ? ['pg', 'sqlite'] : [BACKEND]
const results = []
for (const b of backends) results.push(await runBackend(b))
console.warn = consoleWarn
const bad = unhandled > 0 || results.some((s) => s.uncoded.length > 0 || s.writtenByRejected.length > 0 || s.hung > 0)
if (JSON_OUT) process.stdout.write(JSON.stringify({ seed: SEED, calls: CALLS, unhandledRejections: unhandled, warnings, results, ok: !bad }, null, 2) + '\n')
else process.stdout.write(printSummary(results) + '\n' + (bad ? 'FAILED\n' : 'ok\n'))
process.exitCode = bad ? 1 : 0

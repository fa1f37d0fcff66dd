// "Secrets stay secret": every error path is driven with canary secrets (an API key, an RSA
// private key, a database password), and everything observable is searched for them: each
// error's message, stack, String(), util.inspect (showHidden), JSON and cause; every record;
// everything printed (console.*, process.stdout/stderr.write, process.emitWarning, and the raw
// output of a child process driving the same paths). The expected number of hits is 0.
// Set up as a PolicySynth suite: the variables are assigned on this file's process.env.
// (Over 400 lines: the canary search and every error path it watches share one set of secrets.)
'use strict'
const crypto = require('node:crypto')
const path = require('node:path')
const util = require('node:util')
const { spawn } = require('node:child_process')
const { PsPrivateAccessStore: S } = require('..')
const { freshPostgres, freshSqlite, generateKeys, original } = require('../tools/harness/index.cjs')

// ---------------------------------------------------------------------------------------------
// The canaries

const hex = (bytes) => crypto.randomBytes(bytes).toString('hex')
const API_KEY = `sk-CANARY-${hex(16)}`
const DB_PASS = `pw-CANARY-${hex(8)}`
const canaryKeys = generateKeys() // the private PEM is the canary
const foreignKeys = generateKeys() // another pair: not a canary
const PRIVATE_PEM = canaryKeys.privateKey
const PUBLIC_PEM = canaryKeys.publicKey

const WINDOW = 40
const pemLines = PRIVATE_PEM.split('\n').filter((l) => l && !l.startsWith('-----'))
const pemBody = pemLines.join('').replace(/=+$/, '')
const derHex = crypto.createPrivateKey(PRIVATE_PEM).export({ type: 'pkcs8', format: 'der' }).toString('hex')

function windowsOf(s) {
  const set = new Set()
  for (let i = 0; i + WINDOW <= s.length; i++) set.add(s.slice(i, i + WINDOW))
  return set
}
// Windows that every RSA key of this size shares (the DER structure: version, algorithm id,
// lengths) say nothing secret: drop those that also occur in an unrelated key.
// (DER lengths vary by a byte from key to key, so many unrelated keys are compared: with 6, a
// random foreign key still shared a header window with the canary key now and then.)
const pemWindows = windowsOf(pemBody)
const derWindows = windowsOf(derHex)
for (let i = 0; i < 32; i++) {
  const structural = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const structuralPem = structural.export({ type: 'pkcs8', format: 'pem' }).replace(/-----[^-]+-----|\s/g, '')
  for (const w of windowsOf(structuralPem)) pemWindows.delete(w)
  for (const w of windowsOf(structural.export({ type: 'pkcs8', format: 'der' }).toString('hex'))) derWindows.delete(w)
}

/** Exact canary strings, by kind. */
const EXACT = {
  apiKey: API_KEY,
  apiKeyHex: Buffer.from(API_KEY).toString('hex'),
  apiKeyBase64: Buffer.from(API_KEY).toString('base64').slice(0, 24),
  dbPassword: DB_PASS,
  privatePem: PRIVATE_PEM.trim(),
}

function slide(text, set) {
  for (let i = 0; i + WINDOW <= text.length; i++) {
    if (set.has(text.slice(i, i + WINDOW))) return i
  }
  return -1
}

/**
 * The canaries found in `text`, one entry per kind: `{ kind, at }`. A private key is found
 * whole, as any 40-character slice of its base64 body (even split by util.inspect or escaped
 * newlines), or as any 40-character slice of its DER in hex.
 */
function hits(text) {
  const s = String(text)
  const found = []
  for (const [kind, canary] of Object.entries(EXACT)) {
    const at = s.indexOf(canary)
    if (at >= 0) found.push({ kind, at })
  }
  const b64 = s.replace(/[^A-Za-z0-9+/]/g, '')
  const atPem = slide(b64, pemWindows)
  if (atPem >= 0) found.push({ kind: 'privatePemSlice', at: atPem })
  const hexOnly = s.toLowerCase().replace(/[^0-9a-f]/g, '')
  const atDer = slide(hexOnly, derWindows)
  if (atDer >= 0) found.push({ kind: 'privateDerHexSlice', at: atDer })
  return found
}

/** The text with every exact canary replaced by a marker (for reports; never prints one). */
function redact(text) {
  let s = String(text)
  for (const [kind, canary] of Object.entries(EXACT)) s = s.split(canary).join(`<CANARY:${kind}>`)
  for (const line of pemLines) s = s.split(line).join('<CANARY:pemLine>')
  return s
}

/** Leak reports for some observed texts: `[]` when clean. Each report is redacted. */
function leaks(label, texts) {
  const out = []
  for (const [where, text] of texts) {
    for (const h of hits(text)) {
      const r = redact(text)
      out.push(`${label} / ${where}: ${h.kind} at ${h.at} in ${JSON.stringify(r.length > 600 ? r.slice(0, 600) + '…' : r)}`)
    }
  }
  return out
}

/** Everything an error exposes, with its cause chain (and AggregateError's errors). */
function errorTexts(err, where = 'err', depth = 0) {
  const texts = []
  const safe = (name, f) => {
    try {
      texts.push([`${where}.${name}`, String(f())])
    } catch (e) {
      texts.push([`${where}.${name}`, `(threw ${e && e.message})`])
    }
  }
  safe('message', () => err && err.message)
  safe('stack', () => err && err.stack)
  safe('String', () => String(err))
  safe('inspect', () => util.inspect(err, { depth: 5, showHidden: true }))
  safe('JSON', () => JSON.stringify(err))
  safe('code', () => err && err.code)
  if (depth < 5 && err && typeof err === 'object') {
    if (err.cause !== undefined) texts.push(...errorTexts(err.cause, `${where}.cause`, depth + 1))
    if (Array.isArray(err.errors)) err.errors.forEach((e, i) => texts.push(...errorTexts(e, `${where}.errors[${i}]`, depth + 1)))
  }
  return texts
}

/** Everything a record (or any returned value) exposes. */
function valueTexts(v, where = 'value') {
  return [
    [`${where}.inspect`, util.inspect(v, { depth: 5 })],
    [`${where}.inspectHidden`, util.inspect(v, { depth: 5, showHidden: true, getters: true })],
    [`${where}.JSON`, JSON.stringify(v)],
  ]
}

// ---------------------------------------------------------------------------------------------
// Everything printed during the whole file

const printed = [] // [where, text]
const show = (a) => (typeof a === 'string' ? a : Buffer.isBuffer(a) || a instanceof Uint8Array ? Buffer.from(a).toString('utf8') : util.inspect(a, { depth: 5, showHidden: true }))
const spies = {}
const onWarning = (w) => printed.push(['process warning event', show(w)])

beforeAll(() => {
  for (const m of ['log', 'warn', 'error', 'info', 'debug']) {
    spies[m] = jest.spyOn(console, m).mockImplementation((...args) => {
      printed.push([`console.${m}`, args.map(show).join(' ')])
    })
  }
  for (const name of ['stdout', 'stderr']) {
    const stream = process[name]
    const write = stream.write
    spies[name] = jest.spyOn(stream, 'write').mockImplementation(function (chunk, ...rest) {
      printed.push([`process.${name}.write`, show(chunk)])
      return write.call(this, chunk, ...rest)
    })
  }
  spies.emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation((...args) => {
    printed.push(['process.emitWarning', args.map(show).join(' ')])
  })
  process.on('warning', onWarning)
})
afterAll(() => {
  process.off('warning', onWarning)
  jest.restoreAllMocks()
})

// ---------------------------------------------------------------------------------------------
// Driving the paths

const collected = [] // every error seen, for the totals

/** Run `call` (sync or async) and return what it threw or rejected with (or a marker). */
async function failure(call) {
  try {
    const value = await call()
    return { threw: false, value }
  } catch (err) {
    collected.push(err)
    return { threw: true, err }
  }
}

/**
 * Check one failure: it failed, with an Error of this realm carrying a PSPAS_* code (the one
 * expected, when given), and nothing it exposes carries a canary.
 */
function expectSecretFree(label, outcome, code) {
  expect(outcome.threw).toBe(true)
  const { err } = outcome
  expect(leaks(label, errorTexts(err))).toEqual([])
  expect(err).toBeInstanceOf(Error)
  expect(typeof err.code).toBe('string')
  expect(err.code).toMatch(/^PSPAS_[A-Z_]+$/)
  if (code instanceof RegExp) expect(err.code).toMatch(code)
  else if (code !== undefined) expect(err.code).toBe(code)
}

async function expectFailsClean(label, call, code) {
  expectSecretFree(label, await failure(call), code)
}

/** Tamper helpers: flip one character, staying in the alphabet (the value stays well-formed). */
const flipHex = (h, i) => h.slice(0, i) + (h[i] === '0' ? '1' : '0') + h.slice(i + 1)
const flipB64 = (b, i) => b.slice(0, i) + (b[i] === 'A' ? 'B' : 'A') + b.slice(i + 1)
function parts(sealed) {
  const [iv, tag, ct] = sealed.encryptedApiKey.split(':')
  return { iv, tag, ct, aes: sealed.encryptedAesKey }
}
const join = (p) => ({ encryptedApiKey: `${p.iv}:${p.tag}:${p.ct}`, encryptedAesKey: p.aes })

/** Tampered envelopes of the API-key canary sealed with the canary public key. */
function tamperedEnvelopes() {
  const a = parts(original.encryptApiKey(API_KEY, PUBLIC_PEM))
  const b = parts(original.encryptApiKey(API_KEY, PUBLIC_PEM))
  const mid = (s) => Math.floor(s.length / 2)
  return [
    ['a flipped ciphertext hex char', join({ ...a, ct: flipHex(a.ct, mid(a.ct)) })],
    ['a flipped tag hex char', join({ ...a, tag: flipHex(a.tag, 5) })],
    ['a flipped IV hex char', join({ ...a, iv: flipHex(a.iv, 3) })],
    ['a flipped base64 AES key char', join({ ...a, aes: flipB64(a.aes, 10) })],
    ['the AES key of another envelope', join({ ...a, aes: b.aes })],
    ['a truncated tag (8 bytes)', join({ ...a, tag: a.tag.slice(0, 16) })],
    ['a truncated ciphertext', join({ ...a, ct: a.ct.slice(0, -2) })],
    ['an AES key sealed for a foreign public key', join({ ...a, aes: parts(original.encryptApiKey(API_KEY, foreignKeys.publicKey)).aes })],
  ]
}

/** Broken variants of a PEM that still carry most of it (any echo would show a slice). */
function brokenPems(pem) {
  const lines = pem.trim().split('\n')
  const body = lines.slice(1, -1)
  const header = lines[0]
  const footer = lines[lines.length - 1]
  const withBody = (b) => [header, ...b, footer].join('\n') + '\n'
  const midLine = Math.floor(body.length / 2)
  return [
    ['its ASN.1 header chars changed', withBody([`AAAA${body[0].slice(4)}`, ...body.slice(1)])],
    ['a non-base64 char in the middle', withBody(body.map((l, i) => (i === midLine ? `${l.slice(0, 20)}*${l.slice(21)}` : l)))],
    ['truncated to half its body', withBody(body.slice(0, midLine))],
    ['without its footer', [header, ...body].join('\n') + '\n'],
    ['one line with literal \\n, a char changed', withBody([`AAAA${body[0].slice(4)}`, ...body.slice(1)]).split('\n').join('\\n')],
  ]
}

/** Set environment variables for the length of `fn` (undefined deletes), then restore them. */
async function withEnv(vars, fn) {
  const saved = {}
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k]
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  try {
    return await fn()
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

const DB_VARS = ['DATABASE_URL', 'PSQL_DB_NAME', 'PSQL_DB_USER', 'PSQL_DB_PASS', 'YP_DEV_DATABASE_NAME', 'YP_DEV_DATABASE_USERNAME', 'YP_DEV_DATABASE_PASSWORD', 'DB_HOST', 'DB_PORT', 'DB_POOL_ACQUIRE_MS']
const noDbVars = () => Object.fromEntries(DB_VARS.map((v) => [v, undefined]))

// A base set-up for the suites that are not per backend: an empty SQLite file, canary keys.
let baseDb
beforeAll(async () => {
  baseDb = await freshSqlite('canary-base')
  for (const v of DB_VARS) delete process.env[v]
  process.env.PSPAS_SQLITE_PATH = baseDb.file
  process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = PUBLIC_PEM
  process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = PRIVATE_PEM
})
afterAll(async () => {
  await S.close()
  await baseDb.drop()
})

// ---------------------------------------------------------------------------------------------

describe('the canary search itself', () => {
  test('finds each canary planted in a string, and nothing in clean text', () => {
    expect(hits('x' + API_KEY)).toHaveLength(1)
    expect(hits('x' + DB_PASS + 'y')).toHaveLength(1)
    expect(hits(`postgres://root:${DB_PASS}@h/db`).map((h) => h.kind)).toEqual(['dbPassword'])
    // The prefix differs from the body's character before the slice (else the search finds the
    // slice one character earlier, at 0: about one random key in 64).
    const before = pemBody[99] === 'x' ? 'y' : 'x'
    expect(hits(before + pemBody.slice(100, 140) + 'y')).toEqual([{ kind: 'privatePemSlice', at: 1 }])
    expect(hits('x' + derHex.slice(700, 740)).map((h) => h.kind)).toEqual(['privateDerHexSlice'])
    expect(hits('x' + Buffer.from(API_KEY).toString('hex')).map((h) => h.kind)).toEqual(['apiKeyHex'])
    expect(hits(PRIVATE_PEM).map((h) => h.kind)).toEqual(expect.arrayContaining(['privatePem', 'privatePemSlice']))
    // As util.inspect splits a long string, and as a .env file writes it on one line.
    expect(hits(util.inspect({ pem: PRIVATE_PEM })).map((h) => h.kind)).toContain('privatePemSlice')
    expect(hits(JSON.stringify(PRIVATE_PEM)).map((h) => h.kind)).toContain('privatePemSlice')
    expect(hits(PRIVATE_PEM.split('\n').join('\\n')).map((h) => h.kind)).toContain('privatePemSlice')
    // Through the error and record helpers.
    const planted = new Error('boom', { cause: new Error(`inner ${DB_PASS}`) })
    expect(leaks('self-check', errorTexts(planted)).length).toBeGreaterThan(0)
    expect(leaks('self-check', valueTexts({ a: { b: { c: API_KEY } } }))).toHaveLength(3)
    // Redaction hides what it reports.
    expect(hits(leaks('self-check', [['t', `a ${API_KEY} ${DB_PASS} ${PRIVATE_PEM}`]]).join('\n'))).toEqual([])
    // Clean text: the foreign key, the canary's public key, ordinary messages.
    expect(hits(foreignKeys.privateKey)).toEqual([])
    expect(hits(PUBLIC_PEM)).toEqual([])
    expect(hits('Failed to decrypt API key: wrong RSA private key or tampered ciphertext')).toEqual([])
    expect(hits(`RSA_API_ENCRYPTION_PRIVATE_KEY ${hex(64)} ${crypto.randomBytes(200).toString('base64')}`)).toEqual([])
  })

  test('the canaries are real: the canary key opens with the canary private key', () => {
    const sealed = S.encryptApiKey(API_KEY)
    expect(leaks('sealed', valueTexts(sealed))).toEqual([])
    expect(S.decryptApiKey(sealed.encryptedApiKey, sealed.encryptedAesKey) === API_KEY).toBe(true)
    expect(original.decryptApiKey(sealed.encryptedApiKey, sealed.encryptedAesKey, PRIVATE_PEM) === API_KEY).toBe(true)
  })

  test('what is printed is captured (console, stdout, stderr, emitWarning)', () => {
    const probe = `PROBE-${hex(8)}`
    const before = printed.length
    console.log(probe)
    console.warn(probe)
    console.error(probe)
    console.info(probe)
    console.debug(probe)
    process.stdout.write(`${probe}\n`)
    process.stderr.write(`${probe}\n`)
    process.emitWarning(probe)
    const seen = printed.slice(before).filter(([, t]) => t.includes(probe)).map(([w]) => w)
    expect(seen).toEqual(['console.log', 'console.warn', 'console.error', 'console.info', 'console.debug', 'process.stdout.write', 'process.stderr.write', 'process.emitWarning'])
  })
})

// ---------------------------------------------------------------------------------------------

describe('configure() with bad options', () => {
  afterEach(() => S.configure())

  const canaryUrl = `postgres://root:${DB_PASS}@127.0.0.1:5432/does_not_exist_db`
  test.each([
    ['a string instead of options', () => S.configure(canaryUrl), 'PSPAS_CONFIG'],
    ['an unknown name holding a URL', () => S.configure({ databaseURL: canaryUrl }), 'PSPAS_CONFIG'],
    ['an unknown name holding a password', () => S.configure({ password: DB_PASS }), 'PSPAS_CONFIG'],
    ['an unknown name holding an API key', () => S.configure({ apiKey: API_KEY }), 'PSPAS_CONFIG'],
    ['an unknown name holding a PEM', () => S.configure({ rsaPrivateKey: PRIVATE_PEM }), 'PSPAS_CONFIG'],
    ['databaseUrl a number', () => S.configure({ databaseUrl: 5432 }), 'PSPAS_CONFIG'],
    ['databaseUrl a URL object', () => S.configure({ databaseUrl: new URL(canaryUrl) }), 'PSPAS_CONFIG'],
    ['databaseUrl a Buffer', () => S.configure({ databaseUrl: Buffer.from(canaryUrl) }), 'PSPAS_CONFIG'],
    ['databaseUrl mysql://', () => S.configure({ databaseUrl: `mysql://user:${DB_PASS}@h/db` }), 'PSPAS_CONFIG'],
    ['databaseUrl with no scheme', () => S.configure({ databaseUrl: `root:${DB_PASS}@127.0.0.1:5432/db` }), 'PSPAS_CONFIG'],
    ['privateKey a Buffer', () => S.configure({ privateKey: Buffer.from(PRIVATE_PEM) }), 'PSPAS_CONFIG'],
    ['privateKey a KeyObject', () => S.configure({ privateKey: crypto.createPrivateKey(PRIVATE_PEM) }), 'PSPAS_CONFIG'],
    ['privateKey a number', () => S.configure({ privateKey: 42 }), 'PSPAS_CONFIG'],
    ['publicKey an object', () => S.configure({ publicKey: { pem: PUBLIC_PEM, secret: PRIVATE_PEM } }), 'PSPAS_CONFIG'],
    ['poolMax the password', () => S.configure({ poolMax: DB_PASS }), 'PSPAS_CONFIG'],
    ['poolMax negative', () => S.configure({ poolMax: -1 }), 'PSPAS_CONFIG'],
    ['acquireTimeoutMs NaN', () => S.configure({ acquireTimeoutMs: NaN }), 'PSPAS_CONFIG'],
    ['idleTimeoutMs fractional', () => S.configure({ idleTimeoutMs: 1.5 }), 'PSPAS_CONFIG'],
    ['enforceBudgets the password', () => S.configure({ enforceBudgets: DB_PASS }), 'PSPAS_CONFIG'],
    ['keyCache the API key', () => S.configure({ keyCache: API_KEY }), 'PSPAS_CONFIG'],
    ['keyCacheMaxEntries Infinity', () => S.configure({ keyCacheMaxEntries: Infinity }), 'PSPAS_CONFIG'],
    ['sqlitePath a number', () => S.configure({ sqlitePath: 7 }), 'PSPAS_CONFIG'],
    ['timezone a number', () => S.configure({ timezone: 7 }), 'PSPAS_CONFIG'],
    ['pgbouncer the password', () => S.configure({ pgbouncer: DB_PASS }), 'PSPAS_CONFIG'],
    ['an unknown timezone', () => S.configure({ timezone: 'Nowhere/Else' }), 'PSPAS_CONFIG'],
  ])('%s: throws PSPAS_CONFIG, echoing no value', async (label, call, code) => {
    await expectFailsClean(label, call, code)
  })

  // The typings promise "naming the option, never its value": a value in the wrong field
  // (here the password pasted into timezone) must not be echoed either.
  test.each([
    ['configure({ timezone: <password> })', () => S.configure({ timezone: DB_PASS })],
    ['PSPAS_TIMEZONE=<password>', () => withEnv({ PSPAS_TIMEZONE: DB_PASS }, () => S.getApiKeys(1))],
  ])('%s: rejected without echoing the value', async (label, call) => {
    await expectFailsClean(label, call, 'PSPAS_CONFIG')
  })

  test.each([
    ['DB_POOL_MAX', { DB_POOL_MAX: DB_PASS }, () => S.getApiKeys(1)],
    ['DB_POOL_ACQUIRE_MS', { DB_POOL_ACQUIRE_MS: DB_PASS }, () => S.getApiKeys(1)],
    ['PSPAS_ENFORCE_BUDGETS', { PSPAS_ENFORCE_BUDGETS: DB_PASS }, () => S.getApiKeys(1)],
    ['PSPAS_PGBOUNCER', { PSPAS_PGBOUNCER: DB_PASS }, () => S.getApiKeys(1)],
    ['DB_PORT (PostgreSQL from PSQL_DB_*)', { PSQL_DB_NAME: 'test', PSQL_DB_USER: 'root', PSQL_DB_PASS: DB_PASS, DB_HOST: '127.0.0.1', DB_PORT: DB_PASS }, () => S.getApiKeys(1)],
    // The data-key cache settings are checked when a key is opened.
    ['PSPAS_KEY_CACHE', { PSPAS_KEY_CACHE: API_KEY }, () => sealedThenOpened()],
    ['PSPAS_KEY_CACHE_MAX_ENTRIES', { PSPAS_KEY_CACHE_MAX_ENTRIES: DB_PASS }, () => sealedThenOpened()],
    ['PSPAS_KEY_CACHE_MAX_AGE_MS', { PSPAS_KEY_CACHE_MAX_AGE_MS: DB_PASS }, () => sealedThenOpened()],
  ])('an environment variable %s holding a secret: PSPAS_CONFIG at the call, value not echoed', async (label, vars, call) => {
    await expectFailsClean(label, () => withEnv(vars, call), 'PSPAS_CONFIG')
  })
  function sealedThenOpened() {
    const s = S.encryptApiKey(API_KEY)
    return S.decryptApiKey(s.encryptedApiKey, s.encryptedAesKey)
  }
})

// ---------------------------------------------------------------------------------------------

describe('the database down, missing or misnamed, with the password a canary', () => {
  afterEach(async () => {
    S.configure()
    await S.close()
  })

  const sealed = () => original.encryptApiKey(API_KEY, PUBLIC_PEM)

  test('unreachable (port 1): every method rejects PSPAS_DB_UNAVAILABLE', async () => {
    S.configure({ databaseUrl: `postgres://root:${DB_PASS}@127.0.0.1:1/nowhere`, acquireTimeoutMs: 2000 })
    const s = sealed()
    const calls = [
      ['getApiKeys', () => S.getApiKeys(1)],
      ['addPreEncryptedKey', () => S.addPreEncryptedKey(1, 1, 1, undefined, s.encryptedApiKey, s.encryptedAesKey, {})],
      ['incrementUsageAndGetApiKey', () => S.incrementUsageAndGetApiKey(1)],
      ['setKeyStatus', () => S.setKeyStatus(1, false)],
      ['getUsage', () => S.getUsage(1)],
      ['getBudgetStatus', () => S.getBudgetStatus(1)],
    ]
    const outcomes = await Promise.all(calls.map(([, c]) => failure(c)))
    outcomes.forEach((o, i) => expectSecretFree(`port 1: ${calls[i][0]}`, o, 'PSPAS_DB_UNAVAILABLE'))
  })

  test.each([
    ['a database that does not exist', `postgres://root:${DB_PASS}@127.0.0.1:5432/does_not_exist_db`, 'PSPAS_DB_UNAVAILABLE'],
    ['postgresql:// to port 1 with sslmode=require', `postgresql://root:${DB_PASS}@127.0.0.1:1/nowhere?sslmode=require`, 'PSPAS_DB_UNAVAILABLE'],
    ['a role that does not exist', `postgres://no_such_role_${hex(3)}:${DB_PASS}@127.0.0.1:5432/test`, 'PSPAS_DB_UNAVAILABLE'],
    ['a host that does not resolve', `postgres://root:${DB_PASS}@does-not-resolve.invalid:5432/db`, 'PSPAS_DB_UNAVAILABLE'],
    ['pgbouncer=true, the server down', `postgres://root:${DB_PASS}@127.0.0.1:1/nowhere?pgbouncer=true`, 'PSPAS_DB_UNAVAILABLE'],
    ['pgbouncer=true and sslmode, a missing database', `postgres://root:${DB_PASS}@127.0.0.1:5432/does_not_exist_db?sslmode=disable&pgbouncer=true`, 'PSPAS_DB_UNAVAILABLE'],
    ['the password in the query string', `postgres://root@127.0.0.1:5432/does_not_exist_db?password=${DB_PASS}`, 'PSPAS_DB_UNAVAILABLE'],
    ['a port that is not a number', `postgres://root:${DB_PASS}@127.0.0.1:notaport/db`, /^PSPAS_(CONFIG|DB_UNAVAILABLE)$/],
    ['an unencoded @ in the password', `postgres://root:${DB_PASS}@${DB_PASS}@127.0.0.1:5432/does_not_exist_db`, /^PSPAS_(CONFIG|DB_UNAVAILABLE)$/],
    ['an unencoded / in the password', `postgres://root:${DB_PASS}/${DB_PASS}@127.0.0.1:5432/does_not_exist_db`, /^PSPAS_(CONFIG|DB_UNAVAILABLE)$/],
    ['an unencoded # in the password', `postgres://root:${DB_PASS}#${DB_PASS}@127.0.0.1:5432/does_not_exist_db`, /^PSPAS_(CONFIG|DB_UNAVAILABLE)$/],
    ['an unencoded ? in the password', `postgres://root:${DB_PASS}?${DB_PASS}@127.0.0.1:5432/does_not_exist_db`, /^PSPAS_(CONFIG|DB_UNAVAILABLE)$/],
    ['a bad percent-escape in the password', `postgres://root:${DB_PASS}%zz@127.0.0.1:5432/does_not_exist_db`, /^PSPAS_(CONFIG|DB_UNAVAILABLE)$/],
    ['an unknown sslmode', `postgres://root:${DB_PASS}@127.0.0.1:5432/does_not_exist_db?sslmode=${DB_PASS}`, /^PSPAS_(CONFIG|DB_UNAVAILABLE)$/],
    ['a broken IPv6 host', `postgres://root:${DB_PASS}@[::1:5432/db`, /^PSPAS_(CONFIG|DB_UNAVAILABLE)$/],
  ])('configure({ databaseUrl }) naming %s: rejects without the password', async (label, databaseUrl, code) => {
    await expectFailsClean(label, async () => {
      S.configure({ databaseUrl, acquireTimeoutMs: 2000 })
      return S.getApiKeys(1)
    }, code)
  })

  const missingDb = `does_not_exist_${hex(4)}`
  test.each([
    ['PSQL_DB_PASS with PSQL_DB_NAME a missing database', { PSQL_DB_NAME: missingDb, PSQL_DB_USER: 'root', PSQL_DB_PASS: DB_PASS, DB_HOST: '127.0.0.1', DB_PORT: '5432' }, 'PSPAS_DB_UNAVAILABLE'],
    ['PSQL_DB_PASS with the server down (DB_PORT=1)', { PSQL_DB_NAME: 'test', PSQL_DB_USER: 'root', PSQL_DB_PASS: DB_PASS, DB_HOST: '127.0.0.1', DB_PORT: '1', DB_POOL_ACQUIRE_MS: '2000' }, 'PSPAS_DB_UNAVAILABLE'],
    ['YP_DEV_DATABASE_PASSWORD with a missing database', { YP_DEV_DATABASE_NAME: missingDb, YP_DEV_DATABASE_USERNAME: 'root', YP_DEV_DATABASE_PASSWORD: DB_PASS, DB_HOST: '127.0.0.1' }, 'PSPAS_DB_UNAVAILABLE'],
    ['DATABASE_URL with the server down', { DATABASE_URL: `postgres://root:${DB_PASS}@127.0.0.1:1/nowhere`, DB_POOL_ACQUIRE_MS: '2000' }, 'PSPAS_DB_UNAVAILABLE'],
    ['DATABASE_URL mysql://', { DATABASE_URL: `mysql://root:${DB_PASS}@127.0.0.1/db` }, 'PSPAS_CONFIG'],
    ['DATABASE_URL not a URL', { DATABASE_URL: `postgres://root:${DB_PASS}@127.0.0.1:notaport/db` }, /^PSPAS_(CONFIG|DB_UNAVAILABLE)$/],
    ['NODE_ENV=production, DATABASE_URL over TLS to a missing database', { NODE_ENV: 'production', DATABASE_URL: `postgres://root:${DB_PASS}@127.0.0.1:5432/${missingDb}` }, 'PSPAS_DB_UNAVAILABLE'],
    ['NODE_ENV=production without DATABASE_URL', { NODE_ENV: 'production', PSQL_DB_NAME: 'test', PSQL_DB_PASS: DB_PASS }, 'PSPAS_CONFIG'],
    ['PSQL_DB_PASS with a SQLite file that cannot be opened', { PSQL_DB_PASS: DB_PASS, PSPAS_SQLITE_PATH: `/nonexistent-${hex(4)}/dir/store.sqlite` }, 'PSPAS_DB_UNAVAILABLE'],
  ])('%s: rejects without the password', async (label, vars, code) => {
    await expectFailsClean(label, () => withEnv({ ...noDbVars(), ...vars }, () => S.getApiKeys(1)), code)
  })
})

// ---------------------------------------------------------------------------------------------

describe.each([
  ['postgres', freshPostgres],
  ['sqlite', freshSqlite],
])('%s: every method, every key failure', (backend, fresh) => {
  let db
  let seq = 0
  const group = () => 5000 + ++seq
  const CONFIG = { maxBudget: { perDay: 1000, petMonth: 20000, total: 100000 }, emailNotificationBudgetThresholds: { daily: 0.8, monthly: 0.9 } }
  const records = [] // [label, record]
  let okGroup // a group whose one key is the canary, sealed for the canary public key
  let okSealed

  beforeAll(async () => {
    db = await fresh('canary')
    process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = PUBLIC_PEM
    process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = PRIVATE_PEM
    for (const v of DB_VARS) delete process.env[v]
    if (db.kind === 'postgres') {
      Object.assign(process.env, { PSQL_DB_NAME: db.name, PSQL_DB_USER: 'root', DB_HOST: '127.0.0.1', DB_PORT: '5432' })
    } else {
      process.env.PSPAS_SQLITE_PATH = db.file
    }
    okGroup = group()
    okSealed = S.encryptApiKey(API_KEY)
    records.push(['the canary key', await S.addPreEncryptedKey(okGroup, 7, 3, undefined, okSealed.encryptedApiKey, okSealed.encryptedAesKey, CONFIG)])
  })
  afterAll(async () => {
    S.configure()
    await S.close()
    await db.drop()
    for (const v of DB_VARS) delete process.env[v]
    process.env.PSPAS_SQLITE_PATH = baseDb.file
    process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = PUBLIC_PEM
    process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = PRIVATE_PEM
  })
  afterEach(() => S.configure())

  const circular = { maxBudget: { total: 1 } }
  circular.self = circular
  const throwingOptions = Object.defineProperty({}, 'aiModelId', {
    get() {
      throw new Error('getter bug in user code')
    },
  })

  describe('bad argument types and values', () => {
    const s = () => okSealed
    test.each([
      ['encryptApiKey(number)', () => S.encryptApiKey(42), 'PSPAS_INVALID_ARGUMENT'],
      ['encryptApiKey("")', () => S.encryptApiKey(''), 'PSPAS_EMPTY_API_KEY'],
      ['encryptApiKey(Buffer of the key)', () => S.encryptApiKey(Buffer.from(API_KEY)), 'PSPAS_INVALID_ARGUMENT'],
      ['encryptApiKey([key])', () => S.encryptApiKey([API_KEY]), 'PSPAS_INVALID_ARGUMENT'],
      ['encryptApiKey({ toString: key })', () => S.encryptApiKey({ toString: () => API_KEY }), 'PSPAS_INVALID_ARGUMENT'],
      ['decryptApiKey(plaintext, aes)', () => S.decryptApiKey(API_KEY, s().encryptedAesKey), 'PSPAS_INVALID_FORMAT'],
      ['decryptApiKey(ct, plaintext)', () => S.decryptApiKey(s().encryptedApiKey, API_KEY), 'PSPAS_INVALID_FORMAT'],
      ['decryptApiKey(ct, PEM)', () => S.decryptApiKey(s().encryptedApiKey, PRIVATE_PEM), 'PSPAS_INVALID_FORMAT'],
      ['decryptApiKey(undefined, aes)', () => S.decryptApiKey(undefined, s().encryptedAesKey), 'PSPAS_INVALID_ARGUMENT'],
      ['decryptApiKey(Buffer, aes)', () => S.decryptApiKey(Buffer.from(API_KEY), s().encryptedAesKey), 'PSPAS_INVALID_ARGUMENT'],
      ['decryptApiKey(ct, number)', () => S.decryptApiKey(s().encryptedApiKey, 42), 'PSPAS_INVALID_ARGUMENT'],
      ['decryptApiKey("aa:bb:cc", "AQIDBA==")', () => S.decryptApiKey('aa:bb:cc', 'AQIDBA=='), /^PSPAS_(INVALID_FORMAT|DECRYPT_FAILED)$/],
      ['addPreEncryptedKey(groupId the key)', () => S.addPreEncryptedKey(API_KEY, 7, 3, undefined, s().encryptedApiKey, s().encryptedAesKey, CONFIG), 'PSPAS_INVALID_ARGUMENT'],
      ['addPreEncryptedKey(groupId -1)', () => S.addPreEncryptedKey(-1, 7, 3, undefined, s().encryptedApiKey, s().encryptedAesKey, CONFIG), 'PSPAS_INVALID_ARGUMENT'],
      ['addPreEncryptedKey(userId 1.5)', () => S.addPreEncryptedKey(1, 1.5, 3, undefined, s().encryptedApiKey, s().encryptedAesKey, CONFIG), 'PSPAS_INVALID_ARGUMENT'],
      ['addPreEncryptedKey(aiModelId the key)', () => S.addPreEncryptedKey(1, 7, API_KEY, undefined, s().encryptedApiKey, s().encryptedAesKey, CONFIG), 'PSPAS_INVALID_ARGUMENT'],
      ['addPreEncryptedKey(externalApiId 2^53)', () => S.addPreEncryptedKey(1, 7, undefined, 2 ** 53, s().encryptedApiKey, s().encryptedAesKey, CONFIG), 'PSPAS_INVALID_ARGUMENT'],
      ['addPreEncryptedKey(the plaintext as ciphertext)', () => S.addPreEncryptedKey(1, 7, 3, undefined, API_KEY, s().encryptedAesKey, CONFIG), 'PSPAS_INVALID_FORMAT'],
      ['addPreEncryptedKey(the PEM as AES key)', () => S.addPreEncryptedKey(1, 7, 3, undefined, s().encryptedApiKey, PRIVATE_PEM, CONFIG), 'PSPAS_INVALID_FORMAT'],
      ['addPreEncryptedKey(the password as AES key)', () => S.addPreEncryptedKey(1, 7, 3, undefined, s().encryptedApiKey, DB_PASS, CONFIG), 'PSPAS_INVALID_FORMAT'],
      ['addPreEncryptedKey(ciphertext a Buffer)', () => S.addPreEncryptedKey(1, 7, 3, undefined, Buffer.from(API_KEY), s().encryptedAesKey, CONFIG), 'PSPAS_INVALID_ARGUMENT'],
      ['addPreEncryptedKey(configuration the key)', () => S.addPreEncryptedKey(1, 7, 3, undefined, s().encryptedApiKey, s().encryptedAesKey, API_KEY), 'PSPAS_INVALID_CONFIGURATION'],
      ['addPreEncryptedKey(maxBudget.total the key)', () => S.addPreEncryptedKey(1, 7, 3, undefined, s().encryptedApiKey, s().encryptedAesKey, { maxBudget: { total: API_KEY } }), 'PSPAS_INVALID_CONFIGURATION'],
      ['addPreEncryptedKey(maxBudget the password)', () => S.addPreEncryptedKey(1, 7, 3, undefined, s().encryptedApiKey, s().encryptedAesKey, { maxBudget: DB_PASS }), 'PSPAS_INVALID_CONFIGURATION'],
      ['addPreEncryptedKey(thresholds.daily the key)', () => S.addPreEncryptedKey(1, 7, 3, undefined, s().encryptedApiKey, s().encryptedAesKey, { maxBudget: { perDay: 10 }, emailNotificationBudgetThresholds: { daily: API_KEY } }), 'PSPAS_INVALID_CONFIGURATION'],
      ['addPreEncryptedKey(maxBudget.perDay -1)', () => S.addPreEncryptedKey(1, 7, 3, undefined, s().encryptedApiKey, s().encryptedAesKey, { maxBudget: { perDay: -1 }, note: API_KEY }), 'PSPAS_INVALID_CONFIGURATION'],
      ['addPreEncryptedKey(a circular configuration)', () => S.addPreEncryptedKey(1, 7, 3, undefined, s().encryptedApiKey, s().encryptedAesKey, circular), 'PSPAS_INVALID_CONFIGURATION'],
      ['addPreEncryptedKey(a BigInt budget)', () => S.addPreEncryptedKey(1, 7, 3, undefined, s().encryptedApiKey, s().encryptedAesKey, { maxBudget: { total: 10n }, apiKey: API_KEY }), 'PSPAS_INVALID_CONFIGURATION'],
      ['getApiKeys(groupId the key)', () => S.getApiKeys(API_KEY), 'PSPAS_INVALID_ARGUMENT'],
      ['getApiKeys(NaN)', () => S.getApiKeys(NaN), 'PSPAS_INVALID_ARGUMENT'],
      ['getApiKeys(options the key)', () => S.getApiKeys(1, API_KEY), 'PSPAS_INVALID_ARGUMENT'],
      ['getApiKeys(aiModelId the password)', () => S.getApiKeys(1, { aiModelId: DB_PASS }), 'PSPAS_INVALID_ARGUMENT'],
      ['getApiKeys(isActive the key)', () => S.getApiKeys(1, { isActive: API_KEY }), 'PSPAS_INVALID_ARGUMENT'],
      ['incrementUsageAndGetApiKey(groupId the key)', () => S.incrementUsageAndGetApiKey(API_KEY), 'PSPAS_INVALID_ARGUMENT'],
      ['incrementUsageAndGetApiKey(incrementAmount the key)', () => S.incrementUsageAndGetApiKey(okGroup, { incrementAmount: API_KEY }), 'PSPAS_INVALID_ARGUMENT'],
      ['incrementUsageAndGetApiKey(incrementAmount -1)', () => S.incrementUsageAndGetApiKey(okGroup, { incrementAmount: -1 }), 'PSPAS_INVALID_ARGUMENT'],
      ['incrementUsageAndGetApiKey(incrementAmount NaN)', () => S.incrementUsageAndGetApiKey(okGroup, { incrementAmount: NaN }), 'PSPAS_INVALID_ARGUMENT'],
      ['incrementUsageAndGetApiKey(externalApiId {})', () => S.incrementUsageAndGetApiKey(okGroup, { externalApiId: { key: API_KEY } }), 'PSPAS_INVALID_ARGUMENT'],
      ['incrementUsageAndGetApiKey(options the password)', () => S.incrementUsageAndGetApiKey(okGroup, DB_PASS), 'PSPAS_INVALID_ARGUMENT'],
      ['setKeyStatus(id the key)', () => S.setKeyStatus(API_KEY, true), 'PSPAS_INVALID_ARGUMENT'],
      ['setKeyStatus(isActive the key)', () => S.setKeyStatus(1, API_KEY), 'PSPAS_INVALID_ARGUMENT'],
      ['setKeyStatus(id -1)', () => S.setKeyStatus(-1, true), 'PSPAS_INVALID_ARGUMENT'],
      ['getUsage(id the key)', () => S.getUsage(API_KEY), 'PSPAS_INVALID_ARGUMENT'],
      ['getUsage(1.5)', () => S.getUsage(1.5), 'PSPAS_INVALID_ARGUMENT'],
      ['getBudgetStatus(id an object)', () => S.getBudgetStatus({ id: API_KEY }), 'PSPAS_INVALID_ARGUMENT'],
      ['getBudgetStatus(-1)', () => S.getBudgetStatus(-1), 'PSPAS_INVALID_ARGUMENT'],
      ['getUsage(2^53)', () => S.getUsage(2 ** 53), 'PSPAS_INVALID_ARGUMENT'],
      ['onBudgetEvent(the key)', () => S.onBudgetEvent(API_KEY), 'PSPAS_INVALID_ARGUMENT'],
      ['onBudgetEvent(null)', () => S.onBudgetEvent(null), 'PSPAS_INVALID_ARGUMENT'],
      ['configure(the key)', () => S.configure(API_KEY), 'PSPAS_CONFIG'],
    ])('%s fails coded, echoing no secret', async (label, call, code) => {
      await expectFailsClean(label, call, code)
    })

    test('an options getter that throws (user code) rejects with that error', async () => {
      const outcome = await failure(() => S.incrementUsageAndGetApiKey(okGroup, throwingOptions))
      expect(outcome.threw).toBe(true)
      expect(outcome.err).toBeInstanceOf(Error)
      expect(outcome.err.message).toBe('getter bug in user code')
      expect(leaks('user getter', errorTexts(outcome.err))).toEqual([])
    })
  })

  describe('tampered and foreign ciphertexts of the canary key', () => {
    const cases = tamperedEnvelopes()
    test.each(cases)('decryptApiKey with %s: PSPAS_DECRYPT_FAILED or INVALID_FORMAT, nothing echoed', async (label, env) => {
      await expectFailsClean(label, () => S.decryptApiKey(env.encryptedApiKey, env.encryptedAesKey), /^PSPAS_(DECRYPT_FAILED|INVALID_FORMAT)$/)
    })

    test.each(cases)('a stored row with %s: incrementUsageAndGetApiKey rejects, counts nothing', async (label, env) => {
      const g = group()
      const added = await failure(() => S.addPreEncryptedKey(g, 7, 3, undefined, env.encryptedApiKey, env.encryptedAesKey, CONFIG))
      let id
      if (added.threw && added.err.code === 'PSPAS_DUPLICATE_KEY') {
        // A tampered copy that keeps one of the stored canary's ciphertexts is refused at the
        // door (that error is checked too); written to the table directly, as by someone with
        // database access, it must still fail clean.
        expectSecretFree(`add ${label}`, added, 'PSPAS_DUPLICATE_KEY')
        let n = 0
        const sql =
          'INSERT INTO ps_private_access_store (group_id, user_id, ai_model_id, configuration, usage, encrypted_api_key, encrypted_aes_key, is_active) ' +
          "VALUES (?, 7, 3, '{}', '{\"dailyUse\":0,\"monthlyUse\":0,\"totalUse\":0}', ?, ?, true)"
        await db.query(db.kind === 'postgres' ? sql.replace(/\?/g, () => `$${++n}`) : sql, [g, env.encryptedApiKey, env.encryptedAesKey])
        ;[id] = (await S.getApiKeys(g)).map((r) => r.id)
      } else if (added.threw) {
        // Refused at the door (a format the original also refuses): that error is checked too.
        expectSecretFree(`add ${label}`, added, 'PSPAS_INVALID_FORMAT')
        return
      } else {
        records.push([label, added.value])
        expect(leaks(`record ${label}`, valueTexts(added.value))).toEqual([])
        id = added.value.id
      }
      await expectFailsClean(`increment ${label}`, () => S.incrementUsageAndGetApiKey(g), 'PSPAS_DECRYPT_FAILED')
      expect((await S.getUsage(id)).totalUse).toBe(0)
    })

    test('a foreign private key (environment and configure): decrypt and increment fail', async () => {
      await withEnv({ RSA_API_ENCRYPTION_PRIVATE_KEY: foreignKeys.privateKey }, async () => {
        await expectFailsClean('env foreign decrypt', () => S.decryptApiKey(okSealed.encryptedApiKey, okSealed.encryptedAesKey), 'PSPAS_DECRYPT_FAILED')
        await expectFailsClean('env foreign increment', () => S.incrementUsageAndGetApiKey(okGroup), 'PSPAS_DECRYPT_FAILED')
      })
      S.configure({ privateKey: foreignKeys.privateKey })
      await expectFailsClean('configured foreign decrypt', () => S.decryptApiKey(okSealed.encryptedApiKey, okSealed.encryptedAesKey), 'PSPAS_DECRYPT_FAILED')
      await expectFailsClean('configured foreign increment', () => S.incrementUsageAndGetApiKey(okGroup), 'PSPAS_DECRYPT_FAILED')
    })
  })

  describe('broken and misplaced keys', () => {
    const brokenPrivate = brokenPems(PRIVATE_PEM)
    test.each(brokenPrivate)('a private PEM with %s, via RSA_API_ENCRYPTION_PRIVATE_KEY: PSPAS_INVALID_RSA_KEY, no slice of it echoed', async (label, pem) => {
      expect(hits(pem).length).toBeGreaterThan(0) // still mostly the canary
      await withEnv({ RSA_API_ENCRYPTION_PRIVATE_KEY: pem }, async () => {
        await expectFailsClean(`env ${label} decrypt`, () => S.decryptApiKey(okSealed.encryptedApiKey, okSealed.encryptedAesKey), 'PSPAS_INVALID_RSA_KEY')
        await expectFailsClean(`env ${label} increment`, () => S.incrementUsageAndGetApiKey(okGroup), 'PSPAS_INVALID_RSA_KEY')
      })
    })

    test.each(brokenPrivate)('a private PEM with %s, via configure({ privateKey }): PSPAS_INVALID_RSA_KEY, no slice of it echoed', async (label, pem) => {
      // configure() checks the type only; should it refuse the PEM, that error must be clean too.
      const configured = await failure(() => S.configure({ privateKey: pem }))
      if (configured.threw) {
        expectSecretFree(`configure ${label}`, configured, 'PSPAS_INVALID_RSA_KEY')
        return
      }
      await expectFailsClean(`configured ${label} decrypt`, () => S.decryptApiKey(okSealed.encryptedApiKey, okSealed.encryptedAesKey), 'PSPAS_INVALID_RSA_KEY')
      await expectFailsClean(`configured ${label} increment`, () => S.incrementUsageAndGetApiKey(okGroup), 'PSPAS_INVALID_RSA_KEY')
    })

    test.each(brokenPems(PUBLIC_PEM))('a public PEM with %s (environment and configure): encryptApiKey fails, the API key not echoed', async (label, pem) => {
      await withEnv({ RSA_API_ENCRYPTION_PUBLIC_KEY: pem }, () => expectFailsClean(`env ${label}`, () => S.encryptApiKey(API_KEY), 'PSPAS_INVALID_RSA_KEY'))
      // configure() parses the PEM at once and refuses it, naming the option.
      await expectFailsClean(`configured ${label}`, () => S.configure({ publicKey: pem }), 'PSPAS_INVALID_RSA_KEY')
    })

    test('the private PEM where the public one belongs (and back): rejected without echoing it', async () => {
      await withEnv({ RSA_API_ENCRYPTION_PUBLIC_KEY: PRIVATE_PEM }, () => expectFailsClean('private as public (env)', () => S.encryptApiKey(API_KEY), 'PSPAS_INVALID_RSA_KEY'))
      await expectFailsClean('private as public (configure)', () => S.configure({ publicKey: PRIVATE_PEM }), 'PSPAS_INVALID_RSA_KEY')
      await expectFailsClean('public as private (configure)', () => S.configure({ privateKey: PUBLIC_PEM }), 'PSPAS_INVALID_RSA_KEY')
      await withEnv({ RSA_API_ENCRYPTION_PRIVATE_KEY: PUBLIC_PEM }, async () => {
        await expectFailsClean('public as private (env)', () => S.decryptApiKey(okSealed.encryptedApiKey, okSealed.encryptedAesKey), 'PSPAS_INVALID_RSA_KEY')
        await expectFailsClean('public as private (env) increment', () => S.incrementUsageAndGetApiKey(okGroup), 'PSPAS_INVALID_RSA_KEY')
      })
    })

    test('missing keys: the original sentences, nothing else', async () => {
      await withEnv({ RSA_API_ENCRYPTION_PUBLIC_KEY: undefined }, () => expectFailsClean('no public key', () => S.encryptApiKey(API_KEY), 'PSPAS_MISSING_PUBLIC_KEY'))
      await withEnv({ RSA_API_ENCRYPTION_PRIVATE_KEY: '' }, async () => {
        await expectFailsClean('no private key decrypt', () => S.decryptApiKey(okSealed.encryptedApiKey, okSealed.encryptedAesKey), 'PSPAS_MISSING_PRIVATE_KEY')
        await expectFailsClean('no private key increment', () => S.incrementUsageAndGetApiKey(okGroup), 'PSPAS_MISSING_PRIVATE_KEY')
      })
    })
  })

  test('a row that passes the format check but cannot be opened ("aa:bb:cc" / "AQIDBA==")', async () => {
    const g = group()
    const rec = await S.addPreEncryptedKey(g, 7, 3, undefined, 'aa:bb:cc', 'AQIDBA==', { note: 'x' })
    records.push(['aa:bb:cc', rec])
    await expectFailsClean('increment aa:bb:cc', () => S.incrementUsageAndGetApiKey(g), 'PSPAS_DECRYPT_FAILED')
    S.configure({ keyCache: false })
    await expectFailsClean('increment aa:bb:cc, no key cache', () => S.incrementUsageAndGetApiKey(g, { incrementAmount: 5 }), 'PSPAS_DECRYPT_FAILED')
    expect((await S.getUsage(rec.id)).totalUse).toBe(0)
  })

  test('findAll, findOne, findByPk: warned (console.warn spied) and rejected, nothing of their arguments echoed', async () => {
    const before = spies.warn.mock.calls.length
    await expectFailsClean('findAll', () => S.findAll({ where: { encrypted_api_key: API_KEY } }), 'PSPAS_NOT_ALLOWED')
    await expectFailsClean('findOne', () => S.findOne({ where: { password: DB_PASS } }), 'PSPAS_NOT_ALLOWED')
    await expectFailsClean('findByPk', () => S.findByPk(1, { pem: PRIVATE_PEM }), 'PSPAS_NOT_ALLOWED')
    const warned = spies.warn.mock.calls.slice(before).map((args) => args.join(' '))
    expect(warned).toEqual([
      expect.stringContaining('findAll'),
      expect.stringContaining('findOne'),
      expect.stringContaining('findByPk'),
    ])
    expect(leaks('blocked warnings', warned.map((w) => ['console.warn', w]))).toEqual([])
  })

  test('a budget listener that throws (user code): the warning and the events carry no secret', async () => {
    const g = group()
    const s = S.encryptApiKey(API_KEY)
    records.push(['budget key', await S.addPreEncryptedKey(g, 7, 3, undefined, s.encryptedApiKey, s.encryptedAesKey, { maxBudget: { perDay: 2, petMonth: null, total: null }, emailNotificationBudgetThresholds: { daily: 0.5, monthly: null } })])
    const events = []
    const off = S.onBudgetEvent((e) => events.push(e))
    const offThrower = S.onBudgetEvent(() => {
      throw new Error('listener failed')
    })
    const before = spies.emitWarning.mock.calls.length
    try {
      for (let i = 0; i < 2; i++) expect((await S.incrementUsageAndGetApiKey(g)) === API_KEY).toBe(true)
      expect(await S.incrementUsageAndGetApiKey(g)).toBeNull()
    } finally {
      off()
      offThrower()
    }
    expect(events.map((e) => e.kind)).toEqual(['dailyThreshold', 'dailyLimit'])
    const warnings = spies.emitWarning.mock.calls.slice(before)
    expect(warnings).toHaveLength(2)
    expect(leaks('budget events', valueTexts(events, 'events'))).toEqual([])
    expect(leaks('listener warnings', warnings.map((w, i) => [`emitWarning[${i}]`, util.inspect(w, { depth: 5 })]))).toEqual([])
  })

  test('records from addPreEncryptedKey and getApiKeys carry ciphertext, never a secret', async () => {
    const all = [...records]
    for (let g = 5001; g <= 5000 + seq; g++) {
      for (const r of await S.getApiKeys(g)) all.push([`getApiKeys(${g}) #${r.id}`, r])
    }
    expect(all.length).toBeGreaterThan(records.length)
    for (const [label, r] of all) {
      expect(r).toBeInstanceOf(S)
      expect(leaks(label, [...valueTexts(r, 'record'), ...valueTexts(r.get(), 'get()'), ...valueTexts(r.dataValues, 'dataValues')])).toEqual([])
    }
    expect(leaks('getUsage/getBudgetStatus', [...valueTexts(await S.getUsage(records[0][1].id), 'usage'), ...valueTexts(await S.getBudgetStatus(records[0][1].id), 'status')])).toEqual([])
    expect(leaks('the class and the module', [...valueTexts(S, 'class'), ...valueTexts(require('..'), 'module')])).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------------

describe('a child process driving the same paths: its raw output (fd 1 and 2)', () => {
  // Catches what no spy can: anything the addon writes to the file descriptors itself (a
  // panic message, a log line), plus every error printed with util.inspect in plain Node.
  const script = `
    'use strict'
    const util = require('node:util')
    const { PsPrivateAccessStore: S } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    const c = JSON.parse(process.env.CANARY_CHILD_INPUT)
    const out = (label, e) => console.log('@@ ' + label + '\\n' + util.inspect(e, { depth: 5, showHidden: true }) + '\\n' + JSON.stringify(e))
    const attempt = async (label, f) => { try { await f(); console.log(label, 'did not fail') } catch (e) { out(label, e) } }
    ;(async () => {
      process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = c.publicPem
      process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = c.privatePem
      process.env.PSPAS_SQLITE_PATH = c.sqlite
      const s = S.encryptApiKey(c.apiKey)
      const [iv, tag, ct] = s.encryptedApiKey.split(':')
      const flip = (h) => h.slice(0, 4) + (h[4] === '0' ? '1' : '0') + h.slice(5)
      await attempt('tampered ct', () => S.decryptApiKey([iv, tag, flip(ct)].join(':'), s.encryptedAesKey))
      await attempt('tampered tag', () => S.decryptApiKey([iv, flip(tag), ct].join(':'), s.encryptedAesKey))
      await attempt('tampered aes', () => S.decryptApiKey(s.encryptedApiKey, 'AAAA' + s.encryptedAesKey.slice(4)))
      await attempt('plaintext as ciphertext', () => S.addPreEncryptedKey(1, 1, 1, undefined, c.apiKey, s.encryptedAesKey, {}))
      const rec = await S.addPreEncryptedKey(1, 1, 1, undefined, 'aa:bb:cc', 'AQIDBA==', {})
      out('record', rec)
      await attempt('unopenable row', () => S.incrementUsageAndGetApiKey(1))
      await attempt('findAll', () => S.findAll({ where: { key: c.apiKey } }))
      process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = c.foreignPem
      await attempt('foreign key', () => S.decryptApiKey(s.encryptedApiKey, s.encryptedAesKey))
      for (const pem of c.brokenPems) {
        process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = pem
        await attempt('broken private (env)', () => S.decryptApiKey(s.encryptedApiKey, s.encryptedAesKey))
        await attempt('broken private (configure)', () => S.configure({ privateKey: pem }))
        S.configure()
      }
      process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = c.privatePem
      await attempt('private as public', () => S.encryptApiKey(c.apiKey))
      process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = c.publicPem
      await attempt('mysql', () => S.configure({ databaseUrl: 'mysql://user:' + c.dbPass + '@h/db' }))
      S.configure({ databaseUrl: 'postgres://root:' + c.dbPass + '@127.0.0.1:1/nowhere', acquireTimeoutMs: 2000 })
      await attempt('port 1', () => S.getApiKeys(1))
      S.configure({ databaseUrl: 'postgres://root:' + c.dbPass + '@127.0.0.1:5432/does_not_exist_db' })
      await attempt('missing db', () => S.incrementUsageAndGetApiKey(1))
      S.configure()
      Object.assign(process.env, { PSQL_DB_NAME: 'does_not_exist_db', PSQL_DB_USER: 'root', PSQL_DB_PASS: c.dbPass, DB_HOST: '127.0.0.1' })
      await attempt('PSQL_DB_PASS', () => S.getApiKeys(1))
      await S.close()
      console.log('CHILD DONE')
    })().catch((e) => { console.error('CHILD CRASHED', e); process.exitCode = 3 })
  `

  test('prints no canary', async () => {
    const input = {
      apiKey: API_KEY,
      dbPass: DB_PASS,
      publicPem: PUBLIC_PEM,
      privatePem: PRIVATE_PEM,
      foreignPem: foreignKeys.privateKey,
      brokenPems: brokenPems(PRIVATE_PEM).map(([, p]) => p),
      sqlite: path.join(path.dirname(baseDb.file), 'child.sqlite'),
    }
    const env = { ...process.env, CANARY_CHILD_INPUT: JSON.stringify(input), RUST_BACKTRACE: 'full', RUST_LOG: 'trace', NODE_ENV: 'test' }
    for (const v of [...DB_VARS, 'RSA_API_ENCRYPTION_PUBLIC_KEY', 'RSA_API_ENCRYPTION_PRIVATE_KEY', 'PSPAS_SQLITE_PATH', 'PSPAS_TIMEZONE']) delete env[v]
    const { code, stdout, stderr } = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', script], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      let so = ''
      let se = ''
      child.stdout.on('data', (d) => (so += d))
      child.stderr.on('data', (d) => (se += d))
      child.on('error', reject)
      child.on('close', (c) => resolve({ code: c, stdout: so, stderr: se }))
    })
    // stderr holds console.warn of the blocked method, and nothing else (no panic, no log).
    expect(redact(stderr).split('\n').filter((l) => l && !l.startsWith('Warning: Attempted to use unsecured method findAll.'))).toEqual([])
    expect(code).toBe(0)
    expect(stdout).toContain('CHILD DONE')
    expect(stdout).not.toContain('did not fail')
    // Every attempt printed an error with a PSPAS_ code.
    expect((stdout.match(/code: 'PSPAS_[A-Z_]+'/g) || []).length).toBeGreaterThanOrEqual(20)
    const blocks = stdout.split('@@ ').map((b) => [`stdout, after ${b.split('\n')[0]}`, b])
    expect(blocks.length).toBeGreaterThan(20)
    expect(leaks('child', [...blocks, ['stderr', stderr]])).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------------

describe('everything printed during this file', () => {
  test('console.*, process.stdout/stderr.write and process.emitWarning carried no canary', () => {
    // The suites above did print: the blocked methods' warnings, the listener's warnings.
    expect(printed.filter(([w]) => w === 'console.warn').length).toBeGreaterThanOrEqual(6)
    expect(printed.filter(([w]) => w === 'process.emitWarning').length).toBeGreaterThanOrEqual(4)
    expect(leaks('printed', printed)).toEqual([])
  })

  test('every error collected was an Error with a PSPAS_ code (bar the one thrown by user code)', () => {
    expect(collected.length).toBeGreaterThan(150)
    const odd = collected.filter((e) => !(e instanceof Error && typeof e.code === 'string' && /^PSPAS_/.test(e.code)))
    expect(odd.map((e) => String(e && e.message))).toEqual(['getter bug in user code', 'getter bug in user code'])
  })
})

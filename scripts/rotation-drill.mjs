// The key-rotation drill (issue 10): RSA key rotation on real databases, under load, with the
// accounting and the ciphertexts checked.
//
//   node scripts/rotation-drill.mjs [--backend pg|sqlite] [--keys N] [--short]
//        [--rotator auto|cli|lib] [--scenario both|complete|kill] [--workers 4] [--in-flight 8]
//        [--batch-size N] [--worker-nice N] [--budgets] [--no-key-cache] [--keep]
//
// Without --backend both backends run: PostgreSQL with 10,000 keys, SQLite with 1,000
// (--short: 300 and 200; --keys N sets N for the backend(s) run).
//
// For each backend, two scenarios, each on a fresh database (PostgreSQL: CREATE DATABASE
// pspas_drill_<pid>_<scenario>, dropped at the end; SQLite: a temporary file):
//   complete  N keys (one per group) sealed under the OLD key pair; 4 worker processes, set up as
//             a deployment mid-rotation (RSA_API_ENCRYPTION_PRIVATE_KEY = new,
//             RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS = old), keep 8 calls each of
//             incrementUsageAndGetApiKey(random group, { aiModelId }) in flight, checking every
//             plaintext; meanwhile `rotate` runs to completion in its own process.
//   kill      the same, but `rotate` is kill -9'ed once the middle row is rewrapped (polled with
//             one cheap point query); the half-rotated state is verified (current + previous
//             key), then `rotate` is run again to completion.
// `rotate` / `verify` are the operator CLI (bin/ps-access-store.mjs rotate|verify --json) when
// it is there and works (--rotator auto, the default), else (--rotator lib) a child process of
// this script calling PsPrivateAccessStore.rotateKeys() / verifyKeys(); both are configured by
// the environment variables only, like a deployment.
//
// Checks (the run exits 1 if any fails): 0 failed calls (rejections, null, wrong plaintext);
// 0 lost increments (every row's usage.totalUse equals the successful calls the workers made on
// its group); rotate's counts; `verify` with ONLY the new private key: every row ok; the old
// private key alone opens no row; every encrypted_api_key byte-identical before and after, and
// every encrypted_aes_key changed; after kill -9: the half-rotated state verifies and the re-run
// rewraps exactly the rows left (SQLite: PRAGMA integrity_check).
//
// The workers run under `nice -n 10` by default (--worker-nice 0: same priority as everything
// else): on a small shared machine, 32 calls in flight over thousands of keys (the key cache
// holds 1,000) keep every core busy with RSA decryptions and would starve `rotate`, which in a
// deployment runs in its own process, usually on its own host. The workers still keep their
// calls in flight throughout; they just yield the CPU to `rotate` and the database first.
//
// Needs a local PostgreSQL (PSPAS_TEST_PG_URL, default postgres://root@127.0.0.1:5432/test, a
// role that may CREATE DATABASE) and the sqlite3 command-line shell (reads the SQLite file
// directly).
import { spawn, fork, execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { createHash, generateKeyPairSync, randomBytes, privateDecrypt, constants as C } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, loadavg } from 'node:os'
import { join, dirname } from 'node:path'
import { promisify } from 'node:util'

const require = createRequire(import.meta.url)
const SELF = fileURLToPath(import.meta.url)
const ROOT = join(dirname(SELF), '..')
const BIN = join(ROOT, 'bin', 'ps-access-store.mjs')
const args = process.argv.slice(2)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const execFileP = promisify(execFile)

/** The plaintext API key of a group: the workers check every key they get against it. */
const plaintextOf = (seed, group) =>
  `sk-drill-${group}-${createHash('sha256').update(`${seed}:${group}`).digest('hex').slice(0, 40)}`
const modelOf = (group) => 1 + (group % 3)
const GROUP_BASE = 100000

// ------------------------------------------------------------------ worker (child process)
// Configured by the environment only. Keeps `inFlight` calls going until told to stop.
if (args[0] === '--worker') {
  const [, n, inFlight] = args
  const N = Number(n)
  const seed = process.env.DRILL_SEED
  const { PsPrivateAccessStore: S } = require('..')
  let stopping = false
  process.on('message', (m) => {
    if (m === 'stop') stopping = true
  })
  const okTimes = []
  const perGroup = {} // calls that incremented (resolved with a key), by group
  const errors = {}
  const messages = {}
  let ok = 0
  let ready = false
  const fail = (code, message) => {
    errors[code] = (errors[code] || 0) + 1
    if (!(code in messages)) messages[code] = message
  }
  await Promise.all(
    Array.from({ length: Number(inFlight) }, async () => {
      while (!stopping) {
        const group = GROUP_BASE + Math.floor(Math.random() * N)
        try {
          const key = await S.incrementUsageAndGetApiKey(group, { aiModelId: modelOf(group) })
          if (key === null) {
            fail('NULL_KEY', `no key returned for group ${group}`)
            continue
          }
          perGroup[group] = (perGroup[group] || 0) + 1
          if (key !== plaintextOf(seed, group)) {
            fail('WRONG_KEY', `group ${group}: a different plaintext came back`)
            continue
          }
          ok++
          okTimes.push(Date.now())
          if (!ready) {
            ready = true
            process.send({ type: 'ready' })
          }
        } catch (e) {
          fail(e && e.code ? e.code : 'NO_CODE', e && e.message ? e.message : String(e))
        }
      }
    }),
  )
  await S.close()
  process.send({ type: 'report', ok, okTimes, perGroup, errors, messages }, () => process.exit(0))
  await new Promise(() => {})
}

// ------------------------------------------------------------------ library rotator / verifier
// (--rotator lib): the library's rotateKeys() / verifyKeys(), configured by the environment.
if (args[0] === '--rotate-child' || args[0] === '--verify-child') {
  const { PsPrivateAccessStore: S } = require('..')
  const batchSize = Number(args[1])
  const line = (o) => process.stdout.write(JSON.stringify(o) + '\n')
  let result
  try {
    const onProgress = (progress) => line({ progress })
    result =
      args[0] === '--rotate-child'
        ? await S.rotateKeys({ batchSize, newPublicKey: process.env.RSA_API_ENCRYPTION_PUBLIC_KEY, onProgress })
        : await S.verifyKeys({ batchSize, onProgress })
  } catch (e) {
    await S.close().catch(() => {})
    process.stderr.write(JSON.stringify({ error: { code: e.code, message: e.message } }) + '\n')
    process.exit(1)
  }
  await S.close()
  await new Promise((resolve) => process.stdout.write(JSON.stringify({ result }) + '\n', resolve))
  process.exit(0)
}

// ------------------------------------------------------------------ options
function option(name, fallback) {
  const i = args.indexOf(name)
  if (i < 0) return fallback
  const v = args[i + 1]
  if (v === undefined || v.startsWith('--')) usage(`${name} needs a value`)
  return v
}
function usage(message) {
  process.stderr.write(`rotation-drill: ${message}\n`)
  process.exit(2)
}
const KNOWN = new Set(['--backend', '--keys', '--short', '--rotator', '--scenario', '--workers', '--in-flight', '--batch-size', '--worker-nice', '--budgets', '--no-key-cache', '--keep'])
for (let i = 0; i < args.length; i++) {
  if (!args[i].startsWith('--')) continue
  if (!KNOWN.has(args[i])) usage(`unknown option ${args[i]}`)
}
const SHORT = args.includes('--short')
const BACKEND = option('--backend', 'both')
if (!['pg', 'sqlite', 'both'].includes(BACKEND)) usage('--backend is pg or sqlite')
const KEYS_GIVEN = option('--keys', null)
const KEYS = {
  pg: KEYS_GIVEN !== null ? Number(KEYS_GIVEN) : SHORT ? 300 : 10000,
  sqlite: KEYS_GIVEN !== null ? Number(KEYS_GIVEN) : SHORT ? 200 : 1000,
}
if (!(KEYS.pg >= 4 && KEYS.sqlite >= 4) || !Number.isInteger(KEYS.pg)) usage('--keys must be an integer >= 4')
const ROTATOR_WANTED = option('--rotator', 'auto')
if (!['auto', 'cli', 'lib'].includes(ROTATOR_WANTED)) usage('--rotator is auto, cli or lib')
const SCENARIOS = { both: ['complete', 'kill'], complete: ['complete'], kill: ['kill'] }[option('--scenario', 'both')]
if (!SCENARIOS) usage('--scenario is both, complete or kill')
const WORKERS = Number(option('--workers', 4))
const IN_FLIGHT = Number(option('--in-flight', 8))
const BATCH_GIVEN = option('--batch-size', null)
const batchSizeFor = (n) => (BATCH_GIVEN !== null ? Number(BATCH_GIVEN) : Math.min(100, Math.max(10, Math.ceil(n / 20))))
const WORKER_NICE = Number(option('--worker-nice', 10))
if (!Number.isInteger(WORKER_NICE) || WORKER_NICE < 0 || WORKER_NICE > 19) usage('--worker-nice is 0 to 19')
const BUDGETS = args.includes('--budgets')
const KEY_CACHE = !args.includes('--no-key-cache')
const KEEP = args.includes('--keep')
const WARMUP_MS = SHORT ? 1000 : 2000
const AFTER_MS = 1000
const ADMIN_URL = process.env.PSPAS_TEST_PG_URL || 'postgres://root@127.0.0.1:5432/test'

const pg = require('pg')
const { PsPrivateAccessStore: S } = require('..')

// ------------------------------------------------------------------ children, clean-up
const children = new Set()
const cleanups = []
async function cleanUp() {
  for (const c of children) {
    try {
      c.kill('SIGKILL')
    } catch {}
  }
  for (const f of cleanups.splice(0).reverse()) {
    try {
      await f()
    } catch (e) {
      process.stderr.write(`clean-up: ${e.message}\n`)
    }
  }
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    process.stderr.write(`\n${sig}: cleaning up\n`)
    await cleanUp()
    process.exit(130)
  })
}

/** Run a command; resolves on close with exit code/signal and the whole output. */
function run(file, argv, env, { onStdout, onStderr } = {}) {
  const started = Date.now()
  const child = spawn(file, argv, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT })
  children.add(child)
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => {
    out += d
    if (onStdout) onStdout(String(d))
  })
  child.stderr.on('data', (d) => {
    err += d
    if (onStderr) onStderr(String(d))
  })
  const done = new Promise((resolve) =>
    child.on('close', (code, signal) => {
      children.delete(child)
      resolve({ code, signal, out, err, started, ended: Date.now() })
    }),
  )
  return { child, done, started }
}

// ------------------------------------------------------------------ keys and environments
const pair = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  })
const OLD = pair()
const NEW = pair()
const SEED = randomBytes(16).toString('hex')
const keyDir = mkdtempSync(join(tmpdir(), 'pspas-rotation-drill-'))
cleanups.push(() => rmSync(keyDir, { recursive: true, force: true }))
const NEW_PUBLIC_FILE = join(keyDir, 'new-public.pem')
writeFileSync(NEW_PUBLIC_FILE, NEW.publicKey, { mode: 0o600 })

/** The environment of a child: the caller's, without any store set-up, plus the given one. */
function envFor(db, { publicKey, privateKey, previous } = {}) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(RSA_API_ENCRYPTION_|PSPAS_|DB_|PSQL_DB_|YP_DEV_DATABASE_)/.test(k)) continue
    if (['NODE_ENV', 'DATABASE_URL', 'DISABLE_PG_SSL', 'PGUSER'].includes(k)) continue
    env[k] = v
  }
  env.DATABASE_URL = db.url
  if (!KEY_CACHE) env.PSPAS_KEY_CACHE = 'false'
  if (publicKey) env.RSA_API_ENCRYPTION_PUBLIC_KEY = publicKey
  if (privateKey) env.RSA_API_ENCRYPTION_PRIVATE_KEY = privateKey
  if (previous) env.RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS = previous
  env.DRILL_SEED = SEED
  return env
}
/** Mid-rotation deployment: current = new, previous = old. */
const rotatingEnv = (db) => envFor(db, { publicKey: NEW.publicKey, privateKey: NEW.privateKey, previous: OLD.privateKey })

// ------------------------------------------------------------------ rotator (CLI or library)
async function pickRotator() {
  if (ROTATOR_WANTED === 'lib') return { kind: 'lib', why: 'asked for (--rotator lib)' }
  let why
  if (!existsSync(BIN)) why = `${BIN} does not exist`
  else {
    const r = await run(process.execPath, [BIN, 'rotate', '--help'], envFor({ url: 'sqlite:/nonexistent' })).done
    if (r.code !== 0) why = `\`ps-access-store rotate --help\` exited ${r.code}: ${r.err.trim().slice(0, 200)}`
    else if (!/--new-public-key/.test(r.out) || !/--json/.test(r.out)) why = '`ps-access-store rotate` has no --new-public-key / --json'
  }
  if (why === undefined) return { kind: 'cli', why: 'bin/ps-access-store.mjs rotate|verify --json' }
  if (ROTATOR_WANTED === 'cli') usage(`--rotator cli: ${why}`)
  return { kind: 'lib', why: `CLI not usable (${why}); library rotateKeys()/verifyKeys() in a child process` }
}
let ROTATOR

/** Start `rotate`; `done` resolves with { exit, result, error, progress[] }. */
function startRotate(db, batchSize) {
  const env = rotatingEnv(db)
  const progress = []
  const r =
    ROTATOR.kind === 'cli'
      ? run(process.execPath, [BIN, 'rotate', '--json', '--new-public-key', NEW_PUBLIC_FILE, '--batch-size', String(batchSize)], env, {
          onStderr: (s) => {
            for (const m of s.matchAll(/rotate: (\d+)\/(\d+) rows/g)) progress.push({ t: Date.now(), done: +m[1], total: +m[2] })
          },
        })
      : run(process.execPath, [SELF, '--rotate-child', String(batchSize)], env, {
          onStdout: (s) => {
            for (const m of s.matchAll(/"progress":\{"done":(\d+),"total":(\d+)\}/g)) progress.push({ t: Date.now(), done: +m[1], total: +m[2] })
          },
        })
  return {
    child: r.child,
    started: r.started,
    progress,
    done: r.done.then((x) => ({ ...x, ...parseOutcome(x) })),
  }
}

/** `verify` in its own process with the given keys; resolves with { exit, result, error }. */
async function runVerify(db, keys, batchSize) {
  const env = envFor(db, keys)
  const x =
    ROTATOR.kind === 'cli'
      ? await run(process.execPath, [BIN, 'verify', '--json', '--no-progress', '--batch-size', String(batchSize)], env).done
      : await run(process.execPath, [SELF, '--verify-child', String(batchSize)], env).done
  return { ...x, ...parseOutcome(x) }
}

function parseOutcome(x) {
  let result = null
  let error = null
  try {
    if (ROTATOR.kind === 'cli') {
      if (x.out.trim()) result = JSON.parse(x.out)
    } else {
      const line = x.out.split('\n').find((l) => l.startsWith('{"result"'))
      if (line) result = JSON.parse(line).result
    }
  } catch (e) {
    error = `unparsable output: ${e.message}`
  }
  const errLine = x.err.split('\n').find((l) => l.startsWith('{"error"'))
  if (errLine) {
    try {
      error = JSON.parse(errLine).error
    } catch {}
  }
  return { result, error }
}

// ------------------------------------------------------------------ databases
async function pgAdmin(sql) {
  const c = new pg.Client({ connectionString: ADMIN_URL })
  await c.connect()
  try {
    return await c.query(sql)
  } finally {
    await c.end()
  }
}

async function createDb(backend, scenario) {
  if (backend === 'pg') {
    const name = `pspas_drill_${process.pid}_${scenario}`
    await pgAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await pgAdmin(`CREATE DATABASE ${name}`)
    const u = new URL(ADMIN_URL)
    u.pathname = '/' + name
    const db = { backend, name, url: u.toString() }
    db.client = new pg.Client({ connectionString: db.url })
    await db.client.connect()
    db.drop = async () => {
      await db.client.end().catch(() => {})
      if (KEEP) return process.stderr.write(`kept database ${name}\n`)
      await pgAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    }
    return db
  }
  const dir = mkdtempSync(join(tmpdir(), `pspas-rotation-drill-${scenario}-`))
  const file = join(dir, 'store.sqlite')
  return {
    backend,
    name: file,
    file,
    url: `sqlite:${file}`,
    drop: async () => {
      if (KEEP) return process.stderr.write(`kept SQLite file ${file}\n`)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function sqliteQuery(file, sql) {
  const { stdout } = await execFileP('sqlite3', ['-json', '-cmd', '.timeout 30000', file, sql], { maxBuffer: 1 << 30 })
  return stdout.trim() ? JSON.parse(stdout) : []
}

const ROWS_SQL = {
  pg: `SELECT s.id::int8::text AS id, s.group_id, s.encrypted_api_key, s.encrypted_aes_key,
         (s.usage->>'totalUse')::float8 AS total_use FROM ps_private_access_store s ORDER BY s.id`,
  sqlite: `SELECT id, group_id, encrypted_api_key, encrypted_aes_key,
         json_extract(usage, '$.totalUse') AS total_use FROM ps_private_access_store ORDER BY id`,
}

/** Every row, read directly (not through the library). */
async function readRows(db) {
  const rows =
    db.backend === 'pg' ? (await db.client.query(ROWS_SQL.pg)).rows : await sqliteQuery(db.file, ROWS_SQL.sqlite)
  return rows.map((r) => ({
    id: Number(r.id),
    group: Number(r.group_id),
    api: r.encrypted_api_key,
    aes: r.encrypted_aes_key,
    totalUse: Number(r.total_use),
  }))
}

/** One row's encrypted_aes_key (the cheap progress signal of the kill scenario). */
async function aesOf(db, id) {
  if (db.backend === 'pg') {
    const r = await db.client.query('SELECT encrypted_aes_key FROM ps_private_access_store WHERE id = $1', [id])
    return r.rows[0]?.encrypted_aes_key
  }
  const r = await sqliteQuery(db.file, `SELECT encrypted_aes_key FROM ps_private_access_store WHERE id = ${Number(id)}`)
  return r[0]?.encrypted_aes_key
}

async function integrity(db) {
  if (db.backend !== 'sqlite') return null
  const r = await sqliteQuery(db.file, 'PRAGMA integrity_check')
  return r.map((x) => Object.values(x)[0]).join('; ')
}

const digest = (rows, col) => {
  const h = createHash('sha256')
  for (const r of rows) h.update(`${r.id}\u0000${r[col]}\u0001`)
  return h.digest('hex')
}

/** N keys, one per group, sealed under the OLD public key (the library's encryptApiKey). */
async function seed(db, n) {
  S.configure({ databaseUrl: db.url, publicKey: OLD.publicKey, privateKey: OLD.privateKey })
  const configuration = BUDGETS
    ? { maxBudget: { perDay: 1e12, petMonth: 1e12, total: 1e12 }, emailNotificationBudgetThresholds: { daily: 0.99, monthly: 0.99 } }
    : {}
  await S.migrate()
  let next = 0
  await Promise.all(
    Array.from({ length: db.backend === 'pg' ? 16 : 4 }, async () => {
      while (next < n) {
        const group = GROUP_BASE + next++
        const sealed = S.encryptApiKey(plaintextOf(SEED, group))
        await S.addPreEncryptedKey(group, 1, modelOf(group), undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, configuration)
      }
    }),
  )
  await S.close()
}

/** Which rows the OLD private key alone opens (node:crypto, RSA-OAEP SHA-256 as the store). */
function oldKeyOpens(rows) {
  let opens = 0
  for (const r of rows) {
    try {
      privateDecrypt({ key: OLD.privateKey, padding: C.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(r.aes, 'base64'))
      opens++
    } catch {}
  }
  return opens
}

// ------------------------------------------------------------------ workers
function startWorkers(db, n) {
  const env = rotatingEnv(db)
  return Array.from({ length: WORKERS }, (_, i) => {
    const niced = WORKER_NICE > 0 ? { execPath: 'nice', execArgv: ['-n', String(WORKER_NICE), process.execPath] } : {}
    const child = fork(SELF, ['--worker', String(n), String(IN_FLIGHT)], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...niced })
    children.add(child)
    let readyResolve
    const ready = new Promise((r) => (readyResolve = r))
    let report = null
    child.on('message', (m) => {
      if (m.type === 'ready') readyResolve(true)
      if (m.type === 'report') report = m
    })
    const exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        children.delete(child)
        readyResolve(false)
        resolve({ code, signal })
      }),
    )
    return {
      i,
      ready,
      async stop() {
        if (child.connected) child.send('stop')
        const exit = await exited
        return { exit, report }
      },
    }
  })
}

// ------------------------------------------------------------------ one scenario
const fmtRate = (n, s) => (s > 0 ? Math.round(n / s) : 0)

async function scenario(backend, kind, n) {
  const batchSize = batchSizeFor(n)
  const label = `${backend} ${kind === 'complete' ? 'A: rotate to completion' : 'B: kill -9 halfway, re-run'}`
  process.stderr.write(`\n== ${label} (${n} keys, batch ${batchSize}, ${WORKERS} workers (nice ${WORKER_NICE}) x ${IN_FLIGHT} in flight, rotator ${ROTATOR.kind}, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')})\n`)
  const checks = []
  const check = (name, pass, detail) => {
    checks.push({ name, pass: !!pass, detail })
    if (!pass) process.stderr.write(`   FAIL ${name}: ${detail}\n`)
  }
  const m = { backend, scenario: kind, keys: n, batchSize, rotator: ROTATOR.kind, loadAverageAtStart: loadavg()[0] }
  const db = await createDb(backend, kind)
  cleanups.push(db.drop)
  let workers = []
  try {
    let t = Date.now()
    await seed(db, n)
    m.seedSeconds = (Date.now() - t) / 1000
    const before = await readRows(db)
    check('seeded rows', before.length === n, `${before.length} of ${n}`)
    // The node:crypto check below must be able to tell: the old key opens every seeded row.
    const openedBefore = oldKeyOpens(before)
    check('old RSA key unwraps every seeded row (node:crypto, sanity)', openedBefore === n, `${openedBefore} of ${n}`)
    process.stderr.write(`   seeded ${before.length} keys in ${m.seedSeconds.toFixed(1)} s\n`)

    // Load: the workers, set up as a deployment mid-rotation.
    workers = startWorkers(db, n)
    const ready = await Promise.race([Promise.all(workers.map((w) => w.ready)), sleep(120000).then(() => null)])
    check('workers started', ready && ready.every(Boolean), 'a worker made no successful call (see stderr)')
    if (!(ready && ready.every(Boolean))) throw new Error('workers did not start')
    const loadStart = Date.now()
    await sleep(WARMUP_MS)

    // Rotation.
    const rotStart = Date.now()
    const rot = startRotate(db, batchSize)
    let first
    let rerun = null
    let killed = null
    if (kind === 'complete') {
      first = await rot.done
    } else {
      const midIndex = Math.floor(n / 2)
      const mid = before[midIndex]
      let exitedEarly = false
      rot.done.then(() => (exitedEarly = true))
      while (!exitedEarly) {
        const now = await aesOf(db, mid.id)
        if (now !== mid.aes) break
        await sleep(10)
      }
      const killAt = Date.now()
      const wasRunning = rot.child.exitCode === null && rot.child.signalCode === null
      if (wasRunning) rot.child.kill('SIGKILL')
      first = await rot.done
      const atKill = await readRows(db)
      const changed = atKill.filter((r, i) => r.aes !== before[i].aes).length
      // Rows are rotated in id order: the rotated ones must be a prefix.
      const prefix = atKill.findIndex((r, i) => r.aes === before[i].aes)
      killed = {
        wasRunning,
        signal: first.signal,
        secondsIntoRotate: (killAt - rotStart) / 1000,
        changed,
        midId: mid.id,
        lastProgress: rot.progress.at(-1) || null,
        prefix: prefix < 0 ? atKill.length : prefix,
        integrity: await integrity(db),
      }
      process.stderr.write(`   kill -9 at ${killed.secondsIntoRotate.toFixed(2)} s: ${changed}/${n} rows rewrapped\n`)
      check('rotate was running when killed', wasRunning && first.signal === 'SIGKILL', `running=${wasRunning}, exit ${first.code}/${first.signal}`)
      check('kill -9 landed mid-way (0 < rewrapped < N)', changed > 0 && changed < n, `${changed} of ${n} rewrapped`)
      check('rewrapped rows are an id-order prefix', killed.prefix === changed, `first unchanged row index ${killed.prefix}, changed ${changed}`)
      if (killed.integrity !== null) check('SQLite integrity_check after kill -9', killed.integrity === 'ok', killed.integrity)
      // The half-rotated state: every row opens, with the new key or (not yet) the old one.
      const half = await runVerify(db, { publicKey: NEW.publicKey, privateKey: NEW.privateKey, previous: OLD.privateKey }, batchSize)
      killed.verify = half.result
      check(
        'half-rotated state verifies (new + previous key)',
        half.code === 0 && half.result && half.result.total === n && half.result.ok === changed && half.result.previousKey === n - changed && half.result.cannotOpen.length === 0,
        `exit ${half.code}, ${JSON.stringify(half.result ?? half.error)}`,
      )
      // Re-run to completion.
      const r2 = startRotate(db, batchSize)
      rerun = await r2.done
      killed.rerunWallSeconds = (rerun.ended - r2.started) / 1000
      killed.killToCompleteSeconds = (rerun.ended - killAt) / 1000
      process.stderr.write(`   re-run: ${JSON.stringify(rerun.result)}\n`)
      check('re-run exits 0', rerun.code === 0, `exit ${rerun.code}/${rerun.signal} ${JSON.stringify(rerun.error)}`)
      check(
        're-run rewraps exactly the rows left, skips the rest',
        rerun.result && rerun.result.total === n && rerun.result.rotated === n - changed && rerun.result.alreadyCurrent === changed && rerun.result.cannotOpen.length === 0 && !(rerun.result.changedMeanwhile > 0),
        JSON.stringify(rerun.result),
      )
    }
    const rotEnd = Date.now()
    if (kind === 'complete') {
      check('rotate exits 0', first.code === 0, `exit ${first.code}/${first.signal} ${JSON.stringify(first.error)} ${first.err.slice(-300)}`)
      check(
        'rotate rewraps every row',
        first.result && first.result.total === n && first.result.rotated === n && first.result.alreadyCurrent === 0 && first.result.cannotOpen.length === 0 && !(first.result.changedMeanwhile > 0),
        JSON.stringify(first.result),
      )
      m.rotateSeconds = first.result?.seconds
      m.rotateWallSeconds = (first.ended - first.started) / 1000
      m.rotateRowsPerSecond = fmtRate(n, m.rotateSeconds)
      m.rotateWallRowsPerSecond = fmtRate(n, m.rotateWallSeconds)
      m.progressLines = rot.progress.length
    } else {
      m.killed = killed
      m.rerun = rerun.result
      m.rerunRowsPerSecond = rerun.result ? fmtRate(rerun.result.total, rerun.result.seconds) : null
    }
    await sleep(AFTER_MS)

    // Stop the load and collect the workers' reports.
    const stopAt = Date.now()
    const reports = await Promise.all(workers.map((w) => w.stop()))
    workers = []
    const errors = {}
    const messages = {}
    const perGroup = new Map()
    let ok = 0
    const times = []
    const bad = reports.filter(({ exit, report }) => !(exit.code === 0 && report))
    check(`${WORKERS} workers exit cleanly with a report`, bad.length === 0, JSON.stringify(bad.map((b) => b.exit)))
    for (const { report } of reports) {
      if (!report) continue
      ok += report.ok
      for (const x of report.okTimes) times.push(x)
      for (const [k, v] of Object.entries(report.errors)) errors[k] = (errors[k] || 0) + v
      Object.assign(messages, report.messages)
      for (const [g, c] of Object.entries(report.perGroup)) perGroup.set(Number(g), (perGroup.get(Number(g)) || 0) + c)
    }
    const failed = Object.values(errors).reduce((a, b) => a + b, 0)
    const within = (a, b) => times.filter((x) => x >= a && x < b).length
    m.calls = { ok, failed, errors, messages }
    m.callsBeforeRotate = within(loadStart, rotStart)
    m.callsDuringRotate = within(rotStart, rotEnd)
    m.callsAfterRotate = within(rotEnd, stopAt + 1e9)
    m.callRateBefore = fmtRate(m.callsBeforeRotate, (rotStart - loadStart) / 1000)
    m.callRateDuring = fmtRate(m.callsDuringRotate, (rotEnd - rotStart) / 1000)
    m.rotateWindowSeconds = (rotEnd - rotStart) / 1000
    check('0 failed calls', failed === 0, `${failed} failed: ${JSON.stringify(errors)} ${JSON.stringify(messages)}`)
    if (WORKERS > 0) check('calls were made while rotate ran', m.callsDuringRotate > 0, `${m.callsDuringRotate}`)

    // The database afterwards, read directly.
    const after = await readRows(db)
    check('same rows afterwards', after.length === n && after.every((r, i) => r.id === before[i].id), `${after.length} rows`)
    const lost = []
    let counted = 0
    for (const r of after) {
      counted += r.totalUse
      const made = perGroup.get(r.group) || 0
      if (r.totalUse !== made) lost.push({ id: r.id, totalUse: r.totalUse, calls: made })
    }
    const incremented = [...perGroup.values()].reduce((a, b) => a + b, 0)
    m.accounting = { incrementedByWorkers: incremented, sumTotalUse: counted, rowsOff: lost.length }
    check('0 lost increments (every row: usage.totalUse == its calls)', lost.length === 0 && counted === incremented, `sum ${counted} vs calls ${incremented}; rows off: ${JSON.stringify(lost.slice(0, 5))}`)
    const apiBefore = digest(before, 'api')
    const apiAfter = digest(after, 'api')
    m.encryptedApiKeySha256 = apiAfter
    check('encrypted_api_key byte-identical (sha256 over all rows)', apiBefore === apiAfter, `${apiBefore} -> ${apiAfter}`)
    const aesChanged = after.filter((r, i) => r.aes !== before[i]?.aes).length
    m.aesChanged = aesChanged
    check('every encrypted_aes_key changed', aesChanged === n, `${aesChanged} of ${n}`)
    if (backend === 'sqlite') {
      const ic = await integrity(db)
      check('SQLite integrity_check at the end', ic === 'ok', ic)
    }

    // verify with ONLY the new private key; the old key alone must open nothing.
    t = Date.now()
    const v = await runVerify(db, { publicKey: NEW.publicKey, privateKey: NEW.privateKey }, batchSize)
    m.verifyNewOnly = v.result
    m.verifySeconds = (Date.now() - t) / 1000
    check(
      'verify with only the new key: every row ok',
      v.code === 0 && v.result && v.result.total === n && v.result.ok === n && v.result.previousKey === 0 && v.result.cannotOpen.length === 0,
      `exit ${v.code}, ${JSON.stringify(v.result ?? v.error)}`,
    )
    const vOld = await runVerify(db, { privateKey: OLD.privateKey }, batchSize)
    m.verifyOldOnly = vOld.result && { ...vOld.result, cannotOpen: vOld.result.cannotOpen.length }
    check(
      'verify with only the old key: no row opens',
      vOld.result && vOld.result.ok === 0 && vOld.result.cannotOpen.length === n && (ROTATOR.kind === 'lib' || vOld.code === 1),
      `exit ${vOld.code}, ${JSON.stringify(m.verifyOldOnly ?? vOld.error)}`,
    )
    const opens = oldKeyOpens(after)
    check('old RSA key unwraps no encrypted_aes_key (node:crypto)', opens === 0, `${opens} rows`)
  } catch (e) {
    check('scenario ran', false, e.stack || String(e))
    await Promise.all(workers.map((w) => w.stop().catch(() => {})))
  } finally {
    cleanups.splice(cleanups.indexOf(db.drop), 1)
    await db.drop()
  }
  m.checks = checks
  m.pass = checks.every((c) => c.pass)
  m.loadAverageAtEnd = loadavg()[0]
  return m
}

// ------------------------------------------------------------------ run
ROTATOR = await pickRotator()
const backends = BACKEND === 'both' ? ['pg', 'sqlite'] : [BACKEND]
const results = []
try {
  for (const b of backends) for (const s of SCENARIOS) results.push(await scenario(b, s, KEYS[b]))
} finally {
  await cleanUp()
}

const cmd = `node scripts/rotation-drill.mjs ${args.join(' ')}`.trim()
const lines = []
const p = (s = '') => lines.push(s)
p(`# ${cmd}`)
p(`node ${process.version}, ${WORKERS} worker processes (nice ${WORKER_NICE}) x ${IN_FLIGHT} calls in flight (incrementUsageAndGetApiKey, random group of N, one key each), key cache ${KEY_CACHE ? 'on' : 'off'}, budgets ${BUDGETS ? 'configured (huge)' : 'none'}`)
p(`rotator: ${ROTATOR.kind} (${ROTATOR.why})`)
p()
p('| backend | scenario | keys | batch | rotate | rows/s | calls during rotate (calls/s; before: calls/s) | failed calls | lost increments | verify new key only | old key alone opens | api ciphertexts identical | aes keys changed | result |')
p('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
for (const r of results) {
  const rot =
    r.scenario === 'complete'
      ? `${r.rotateSeconds?.toFixed(2)} s (wall ${r.rotateWallSeconds?.toFixed(2)} s)`
      : r.killed
        ? `kill -9 at ${r.killed.secondsIntoRotate.toFixed(2)} s with ${r.killed.changed}/${r.keys} rewrapped; re-run: ${r.rerun?.rotated} rotated + ${r.rerun?.alreadyCurrent} already current in ${r.rerun?.seconds?.toFixed(2)} s (wall ${r.killed.rerunWallSeconds?.toFixed(2)} s; kill to complete incl. interim verify ${r.killed.killToCompleteSeconds?.toFixed(2)} s)`
        : '-'
  const rate = r.scenario === 'complete' ? `${r.rotateRowsPerSecond} (wall ${r.rotateWallRowsPerSecond})` : `${r.rerunRowsPerSecond ?? '-'} (re-run)`
  const v = r.verifyNewOnly
  const vo = r.verifyOldOnly
  p(
    `| ${r.backend} | ${r.scenario === 'complete' ? 'A complete' : 'B kill -9 + re-run'} | ${r.keys} | ${r.batchSize} | ${rot} | ${rate} | ${r.callsDuringRotate ?? '-'} (${r.callRateDuring ?? '-'}/s; ${r.callRateBefore ?? '-'}/s) | ${r.calls ? `${r.calls.failed} of ${r.calls.ok + r.calls.failed}` : '-'} | ${r.accounting ? `${r.accounting.rowsOff} rows off; sum totalUse ${r.accounting.sumTotalUse} = calls ${r.accounting.incrementedByWorkers}` : '-'} | ${v ? `total ${v.total}, ok ${v.ok}, previousKey ${v.previousKey}, cannotOpen ${v.cannotOpen.length}` : '-'} | ${vo ? `${vo.ok} ok, ${vo.cannotOpen} cannot open` : '-'} | ${r.encryptedApiKeySha256 ? 'yes' : '-'} | ${r.aesChanged ?? '-'}/${r.keys} | ${r.pass ? 'PASS' : 'FAIL'} |`,
  )
}
p()
for (const r of results) {
  p(`## ${r.backend} ${r.scenario}: ${r.checks.filter((c) => c.pass).length}/${r.checks.length} checks pass`)
  for (const c of r.checks) p(`- ${c.pass ? 'ok  ' : 'FAIL'} ${c.name}${c.pass ? '' : ` — ${c.detail}`}`)
  if (r.killed) {
    p(`- kill point: ${r.killed.changed}/${r.keys} rows rewrapped, ${r.killed.secondsIntoRotate.toFixed(2)} s into rotate (detected by polling row ${r.killed.midId}'s encrypted_aes_key); interim verify ${JSON.stringify(r.killed.verify && { ...r.killed.verify, cannotOpen: r.killed.verify.cannotOpen.length })}${r.killed.integrity ? `; integrity_check ${r.killed.integrity}` : ''}`)
  }
  p(`- seed ${r.seedSeconds?.toFixed(1)} s; calls: ${r.callsBeforeRotate} before rotate, ${r.callsDuringRotate} during (${r.rotateWindowSeconds?.toFixed(2)} s), ${r.callsAfterRotate} after; verify (new key only) ${r.verifySeconds?.toFixed(2)} s; machine load average ${r.loadAverageAtStart.toFixed(1)} at start, ${r.loadAverageAtEnd.toFixed(1)} at end (2 cores)`)
}
const pass = results.length > 0 && results.every((r) => r.pass)
p()
p(pass ? 'ALL CHECKS PASS' : 'SOME CHECKS FAILED')
console.log(lines.join('\n'))
process.exit(pass ? 0 : 1)

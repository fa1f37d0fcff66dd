// The fault suite (`npm run faults`; `-- --short` is the version CI runs): real faults against
// real parts, under load, with the accounting checked.
//
// PostgreSQL (local server, 32 calls in flight from a worker process, one key, no budget):
//   kills    pg_terminate_backend of the database's backends, 4 times
//   restart  pg_ctlcluster restart (fast mode) mid-load
//   outage   the server stopped for 5 s mid-load, then started
//   sigkill  a backend of the database killed with SIGKILL (the postmaster's crash restart
//            ends every backend), 3 times; each call carries a requestId and is retried
//            with it after PSPAS_DB_OUTCOME_UNKNOWN (or an unavailable server) until it
//            resolves: the counter's delta must equal the keys delivered, none in doubt
// SQLite (one file): 4 worker processes x 32 in flight, one kill -9'ed mid-load, then
//   PRAGMA integrity_check.
//
// Each scenario reports calls, errors by code, time to first success after each fault (after
// the server accepts connections again, for restart and outage), and the accounting: successes
// delivered vs the counter's delta, with in-doubt calls (PSPAS_DB_OUTCOME_UNKNOWN, or in flight
// in a killed process) counted separately. The run fails (exit 1) if the accounting is not
// exact: delivered <= delta <= delivered + in-doubt.
//
// Needs root (it restarts the local PostgreSQL 15 cluster) and python3 (its sqlite3 module runs
// the integrity check).
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const { freshPostgres, freshSqlite, adminQuery, generateKeys, childEnv, storeSealedKeys, startWorker, parseReport } = require('../harness/index.cjs')
const LOAD_WORKER = fileURLToPath(new URL('./load-worker.mjs', import.meta.url))
const args = process.argv.slice(2)
const SHORT = args.includes('--short')
const CLUSTER = (process.env.PSPAS_PG_CLUSTER || '15 main').split(' ')

// ------------------------------------------------------------------ helpers
const keys = generateKeys()
const ENV = childEnv(keys)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function worker(databaseUrl, group, seconds, concurrency, idempotent = false) {
  const w = startWorker(LOAD_WORKER, [databaseUrl, group, seconds, concurrency, idempotent ? '1' : '0', 'sk-fault'], { env: ENV, stdin: 'ignore', stderr: 'inherit' })
  const delivered = () => (w.output().match(/\+/g) || []).length
  return {
    child: w.child,
    delivered,
    async result() {
      const { code, signal, out } = await w.exited
      return { exit: { code, signal }, delivered: delivered(), report: parseReport(out) }
    },
  }
}

function isReady() {
  try {
    execFileSync('pg_isready', ['-q', '-h', '127.0.0.1', '-p', '5432'])
    return true
  } catch {
    return false
  }
}

async function waitReady(timeoutMs = 60000) {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (isReady()) return Date.now()
    await sleep(20)
  }
  throw new Error('PostgreSQL did not come back')
}

const cluster = (action, ...more) =>
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', ...more, ...CLUSTER, action], { stdio: 'pipe' })

// Direct (the faults are the server's own); one key, group 1, no budget.
async function freshPgKey(label) {
  const name = `pspas_faults_${label.replace(/[^a-z0-9]+/gi, "_")}_${process.pid}`.toLowerCase()
  const db = await freshPostgres('faults', { name, bouncerPort: null })
  await seed(db.url)
  return db
}

function seed(databaseUrl) {
  const { PsPrivateAccessStore: S } = require('../..')
  return storeSealedKeys(S, { databaseUrl, keys, rows: [{ groupId: 1, plaintext: 'sk-fault' }] })
}

async function totalUse(databaseUrl) {
  const { PsPrivateAccessStore: S } = require('../..')
  S.configure({ databaseUrl, publicKey: keys.publicKey, privateKey: keys.privateKey })
  const u = await S.getUsage(1)
  await S.close()
  return u.totalUse
}

function firstSuccessAfter(okTimes, t) {
  const next = okTimes.find((x) => x >= t)
  return next === undefined ? null : next - t
}

function account(name, { delivered, delta, inDoubt, calls, errors, recovery, extra = {} }) {
  const exact = delivered <= delta && delta <= delivered + inDoubt
  return { scenario: name, calls, delivered, counterDelta: delta, inDoubt, exact, errors, recoveryMs: recovery, ...extra }
}

// ------------------------------------------------------------------ PostgreSQL scenarios
const SECONDS = SHORT ? 6 : 12

async function pgScenario(label, inject, seconds = SECONDS, idempotent = false) {
  const db = await freshPgKey(label)
  try {
    const w = worker(db.url, 1, seconds, 32, idempotent)
    await sleep(1000)
    const marks = await inject(db)
    const { report, exit } = await w.result()
    if (!report) throw new Error(`${label}: worker died (${JSON.stringify(exit)})`)
    const delta = await totalUse(db.url)
    // Retried with their requestIds, unknown outcomes resolve: only unresolved calls stay in
    // doubt, and the counter must equal the deliveries exactly.
    const inDoubt = idempotent ? report.unresolved : report.errors.PSPAS_DB_OUTCOME_UNKNOWN || 0
    const calls = report.okTimes.length + report.errTimes.length
    return account(label, {
      delivered: report.okTimes.length,
      delta,
      inDoubt,
      calls,
      errors: report.errors,
      recovery: marks.map((t) => firstSuccessAfter(report.okTimes, t)),
      extra: { messages: report.lastMessage, ...(idempotent ? { retries: report.retries, strict: delta === report.okTimes.length && report.unresolved === 0 } : {}) },
    })
  } finally {
    if (!isReady()) {
      cluster('start')
      await waitReady()
    }
    await db.drop()
  }
}

const kills = async (db) => {
  const marks = []
  for (let i = 0; i < 4; i++) {
    const t = Date.now()
    await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db.name])
    marks.push(t)
    await sleep(SHORT ? 800 : 1500)
  }
  return marks
}

/** SIGKILL one backend of the database: PostgreSQL's crash restart ends all of them. */
const sigkills = async (db) => {
  const marks = []
  for (let i = 0; i < 3; i++) {
    const { rows } = await adminQuery("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid() LIMIT 1", [db.name])
    if (rows.length > 0) {
      const t = Date.now()
      process.kill(rows[0].pid, 'SIGKILL')
      marks.push(t)
      await waitReady()
    }
    await sleep(SHORT ? 1000 : 2000)
  }
  return marks
}

async function restart() {
  cluster('restart', '-m', 'fast')
  const ready = await waitReady()
  return [ready]
}

async function outage() {
  cluster('stop', '-m', 'fast')
  await sleep(5000)
  cluster('start')
  const ready = await waitReady()
  return [ready]
}

// ------------------------------------------------------------------ SQLite scenario
async function sqliteKill9() {
  const db = await freshSqlite('faults')
  const { file, url } = db
  try {
    await seed(url)
    const workers = Array.from({ length: 4 }, () => worker(url, 1, SHORT ? 4 : 8, 32))
    await sleep(1500)
    const victim = workers[0]
    victim.child.kill('SIGKILL')
    const results = await Promise.all(workers.map((w) => w.result()))
    const survivors = results.slice(1)
    const delivered = results.reduce((n, r) => n + r.delivered, 0)
    const delta = await totalUse(url)
    const integrity = execFileSync('python3', ['-c', 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])', file], { encoding: 'utf8' }).trim()
    const errors = {}
    for (const r of survivors) for (const [k, v] of Object.entries(r.report.errors)) errors[k] = (errors[k] || 0) + v
    const calls = survivors.reduce((n, r) => n + r.report.okTimes.length + r.report.errTimes.length, 0) + results[0].delivered
    // In doubt: what the killed process had in flight (at most its 32 concurrent calls).
    return account('sqlite kill -9', { delivered, delta, inDoubt: 32, calls, errors, recovery: [], extra: { killed: results[0].exit.signal, integrity, integrityOk: integrity === 'ok' } })
  } finally {
    await db.drop()
  }
}

// ------------------------------------------------------------------ run
const rows = []
rows.push(await pgScenario('pg backend kills', kills))
rows.push(await pgScenario('pg backend SIGKILL, retried by requestId', sigkills, SECONDS, true))
rows.push(await pgScenario('pg restart', () => restart()))
// The outage run lasts long enough to see the first successes after the server is back.
rows.push(await pgScenario('pg 5 s outage', () => outage(), SECONDS + 8))
rows.push(await sqliteKill9())

console.log(`# npm run faults${SHORT ? ' -- --short' : ''}`)
console.log(`node ${process.version}, ${SECONDS} s per PostgreSQL scenario, 32 calls in flight\n`)
console.log('| scenario | calls | delivered | counter delta | in doubt | exact | errors by code | first success after fault / server ready (ms) |')
console.log('|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  const exact = r.strict === undefined ? (r.exact ? 'yes' : 'NO') : r.strict ? `yes: delta == delivered (${r.retries} retries by requestId)` : 'NO'
  console.log(`| ${r.scenario} | ${r.calls} | ${r.delivered} | ${r.counterDelta} | ${r.inDoubt} | ${exact}${r.integrity ? `, integrity_check: ${r.integrity}` : ''} | ${JSON.stringify(r.errors)} | ${r.recoveryMs.join(', ')} |`)
}
console.log('\n' + JSON.stringify(rows.map(({ scenario, messages }) => ({ scenario, messages })), null, 1))
const ok = rows.every((r) => r.exact && (r.integrityOk ?? true) && (r.strict ?? true))
process.exit(ok ? 0 : 1)

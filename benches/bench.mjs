// npm run bench [-- --seconds 4 --runs 3 | --smoke] [--only pg,sqlite,crypto,replication] | -- --soak [minutes]
//
// Side by side, against the local PostgreSQL (and the package alone against SQLite):
//   (a) package   this package's incrementUsageAndGetApiKey
//   (b) baseline  the Sequelize original's algorithm: sequelize + pg + node:crypto, a
//                 transaction, findAll … FOR UPDATE, save, RSA decryption with the PEM on the
//                 main thread on every call
//   (c) limit     the plain single-statement increment (benches/plain-increment-pg.sql: one
//                 UPDATE … WHERE id = (SELECT … FOR UPDATE) RETURNING, no budget) from a
//                 bare pg loop, no decryption: what the database itself can do
//   (d) statement the package's own budget statement (benches/increment-pg.sql) from the same
//                 bare loop: a diagnostic row that shows the statement's own cost
//   (e) package, requestId        every call with its own requestId (idempotent calls)
//   (f) package, reserve+settle   one call = reserveUsageAndGetApiKey(g, { estimate: 1 }) then
//                                 settleUsage(id, 1) (no limits: nothing refused)
// Scenarios: one hot key at 1, 8 and 32 calls in flight; 4 processes × 32; 1,000 groups with
// random picks at 32. Closed loops; every variant has its own keys; pools of 10 connections;
// variants interleaved run by run, VACUUM ANALYZE before each run, 20 warm-up calls per run.
// Reported per scenario: calls/s, p50/p99 latency, event-loop delay p99/max, peak RSS, and the
// ratios package/baseline, package/limit and package/statement (calls/s) and package/limit (p50); medians of
// --runs runs, with every run's calls/s and the largest distance of one from the median; (e) and (f)
// also in a table of their ratios to the package, the package without coalescing and the limit.
// Then encryptApiKey and decryptApiKey per call against node:crypto doing the original's work.
//
// SQLite: the package alone in every scenario, and at 1 and 32 in flight on a hot key side by
// side with its limit: the plain single-statement increment (benches/plain-increment-sqlite.sql)
// in a bare Rust loop with no Node↔Rust hop (examples/sqlite_limit.rs, built once at the start
// with `cargo build --release --example sqlite_limit`, run as a child process), which opens
// the file exactly as the package does (WAL, the same `synchronous`, busy timeout and pool).
// Its own hot group; interleaved run by run; before each run VACUUM and a WAL
// checkpoint(TRUNCATE), so every run starts from an empty WAL.
// --only takes a comma list of sections (pg, sqlite, crypto, replication); all four by default
// (replication, which makes two local clusters and needs root, not with --smoke).
// --sqlite-analyze runs ANALYZE on the SQLite file after seeding: a diagnostic, since the
// package never runs it, and without statistics SQLite picks the ai_model_id index (every
// key has model 1) over group_id for the package's candidate SELECT.
// (Over 400 lines: every scenario runs side by side in one process so ratios come from one run.)
import { spawnSync, execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { readFileSync, existsSync, statSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const { PsPrivateAccessStore: S } = require('..')
const { freshPostgres, freshSqlite, generateKeys, storeSealedKeys, startWorker, runTogether, waitForGo, writeReport, original, withClient } = require('../tools/harness/index.cjs')
const { createPrimary, createStandby } = require('../tools/harness/clusters.cjs')
const pg = require('pg')
const { Sequelize, DataTypes } = require('sequelize')

const HERE = fileURLToPath(new URL('.', import.meta.url))
// The limit: the plain single-statement increment (no budget), what the database can do.
const PLAIN_SQL = readFileSync(join(HERE, 'plain-increment-pg.sql'), 'utf8')
// Diagnostic: the package's own budget statement, from the same bare loop.
const INCREMENT_SQL = readFileSync(join(HERE, 'increment-pg.sql'), 'utf8')
const POOL = 10
// The package keeps every key of the 10,000-group scenarios' data keys cached (the default of
// 1,000 entries is sized for fewer tenants: a deployment with more sets keyCacheMaxEntries).
const KEY_CACHE_ENTRIES = 20000
// Each variant's hot group, and the first of its spread groups (base + 0 … 9,999).
const BASE = {
  hot: { package: 1, baseline: 2, limit: 3, statement: 4, 'package, no coalescing': 5, 'package, requestId': 6, 'package, reserve+settle': 7, 'package, no cross-key batching': 8 },
  spread: { package: 10000, baseline: 20000, limit: 30000, statement: 40000, 'package, no coalescing': 50000, 'package, requestId': 60000, 'package, reserve+settle': 70000, 'package, no cross-key batching': 80000 },
}
const ALL_VARIANTS = ['package', 'package, no cross-key batching', 'package, no coalescing', 'package, requestId', 'package, reserve+settle', 'baseline', 'limit', 'statement']
// The rows with their own table of ratios to the package, the package without coalescing and the limit.
const TWO_STEP = ['package, requestId', 'package, reserve+settle']

const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : dflt
}
const SMOKE = args.includes('--smoke')
const SECONDS = opt('seconds', SMOKE ? 0.3 : 4)
const RUNS = opt('runs', SMOKE ? 1 : 3)
const SQLITE_ANALYZE = args.includes('--sqlite-analyze')
// --scenario <text> runs only the scenarios whose name contains it; --variants 'a;b' only those
// variants (the package and the limit always): for quick experiments, not for the record.
const SCENARIO_FILTER = args.includes('--scenario') ? args[args.indexOf('--scenario') + 1] : null
const VARIANTS = args.includes('--variants')
  ? ALL_VARIANTS.filter((v) => ['package', 'limit', ...args[args.indexOf('--variants') + 1].split(';')].includes(v))
  : ALL_VARIANTS
// replication needs root (it makes two local clusters): in the full run, not in --smoke.
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : ['pg', 'sqlite', 'crypto', ...(SMOKE ? [] : ['replication'])]
// The SQLite scenarios measured side by side with the bare Rust loop (the limit).
const SQLITE_LIMIT_SCENARIOS = ['hot key, 1 in flight', 'hot key, 32 in flight']

// ---------------------------------------------------------------- variants (one per process)
function makeVariant(kind, databaseUrl, keys) {
  const common = { databaseUrl, publicKey: keys.publicKey, privateKey: keys.privateKey, poolMax: POOL, poolMin: POOL, keyCacheMaxEntries: KEY_CACHE_ENTRIES }
  if (kind === 'package' || kind === 'package, no coalescing' || kind === 'package, no cross-key batching') {
    S.configure({ ...common, coalesce: kind !== 'package, no coalescing', crossKeyBatching: kind !== 'package, no cross-key batching' })
    return { call: (g) => S.incrementUsageAndGetApiKey(g, { aiModelId: 1 }), close: () => S.close() }
  }
  if (kind === 'package, requestId') {
    // Every call idempotent, each with its own id (unique across processes): what a caller
    // that always passes one pays (one transaction per call, not coalesced).
    S.configure(common)
    let seq = 0
    return { call: (g) => S.incrementUsageAndGetApiKey(g, { aiModelId: 1, requestId: `${process.pid}-${seq++}` }), close: () => S.close() }
  }
  if (kind === 'package, reserve+settle') {
    // One call = a reservation of 1 then its settlement at 1 (the keys have no limit, so
    // nothing is refused): what a caller that reserves before every LLM call pays.
    S.configure(common)
    const call = async (g) => {
      const r = await S.reserveUsageAndGetApiKey(g, { aiModelId: 1, estimate: 1 })
      if (r === null) throw new Error('reservation refused')
      return S.settleUsage(r.reservationId, 1)
    }
    return { call, close: () => S.close() }
  }
  if (kind === 'limit' || kind === 'statement') {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: POOL })
    pool.on('error', () => {}) // idle clients closed by the server after the run
    const q = kind === 'limit' ? { name: 'pspas_plain', text: PLAIN_SQL } : { name: 'pspas_increment', text: INCREMENT_SQL }
    // The budget statement: $1 time zone, $2 group, $3 amount, $4 enforce, $5..$9 a
    // reservation's id, ttl, requestId, fingerprint (all NULL: an increment) and the request
    // retention (ms), then the filter (aiModelId) from $10.
    const values = (g) => (kind === 'limit' ? [g, 1, 1] : ['UTC', g, 1, true, null, null, null, null, 86400000, 1])
    return { call: (g) => pool.query({ ...q, values: values(g) }), close: () => pool.end() }
  }
  // baseline: the original model's code shape
  const sequelize = new Sequelize(databaseUrl, { logging: false, pool: { max: POOL, min: 0 } })
  const Model = sequelize.define(
    'PsPrivateAccessStore',
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      group_id: DataTypes.INTEGER,
      user_id: DataTypes.INTEGER,
      ai_model_id: DataTypes.INTEGER,
      external_api_id: DataTypes.INTEGER,
      configuration: DataTypes.JSONB,
      usage: DataTypes.JSONB,
      encrypted_api_key: DataTypes.TEXT,
      encrypted_aes_key: DataTypes.TEXT,
      last_used_at: DataTypes.DATE,
      is_active: DataTypes.BOOLEAN,
    },
    { tableName: 'ps_private_access_store', timestamps: true, createdAt: 'created_at', updatedAt: 'updated_at' },
  )
  const call = (groupId, incrementAmount = 1) =>
    sequelize.transaction(async (transaction) => {
      const rows = await Model.findAll({
        where: { group_id: groupId, ai_model_id: 1, is_active: true },
        order: [['id', 'ASC']],
        lock: transaction.LOCK.UPDATE,
        transaction,
      })
      if (rows.length === 0) return null
      const key = rows[0]
      const u = key.usage
      key.usage = { dailyUse: (u.dailyUse || 0) + incrementAmount, monthlyUse: (u.monthlyUse || 0) + incrementAmount, totalUse: (u.totalUse || 0) + incrementAmount }
      key.last_used_at = new Date()
      await key.save({ transaction })
      return original.decryptApiKey(key.encrypted_api_key, key.encrypted_aes_key, keys.privateKey)
    })
  return { call, close: () => sequelize.close() }
}

function pct(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN
}

async function closedLoop(variant, pickGroup, concurrency, seconds) {
  const lat = []
  const eld = monitorEventLoopDelay({ resolution: 1 })
  eld.enable()
  const end = performance.now() + seconds * 1000
  let errors = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now()
        try {
          await variant.call(pickGroup())
        } catch {
          errors++
        }
        lat.push(performance.now() - t)
      }
    }),
  )
  eld.disable()
  return { calls: lat.length, lat, seconds, eldP99: eld.percentile(99) / 1e6, eldMax: eld.max / 1e6, rss: process.resourceUsage().maxRSS / 1024, errors }
}

// ---------------------------------------------------------------- child mode (4 processes)
if (args[0] === '--child') {
  const [, kind, databaseUrl, concurrency, seconds, groups] = args
  const keys = JSON.parse(process.env.PSPAS_BENCH_KEYS)
  const variant = makeVariant(kind, databaseUrl, keys)
  const sc = { c: Number(concurrency), groups: Number(groups) }
  const pick = await warmUp(variant, kind, sc)
  await waitForGo()
  const r = await closedLoop(variant, pick, sc.c, Number(seconds))
  await writeReport(r) // a fast run's latencies are larger than the pipe's buffer
  await variant.close()
  process.exit(0)
}

async function inChildren(kind, databaseUrl, keys, sc, seconds) {
  const env = { ...process.env, PSPAS_BENCH_KEYS: JSON.stringify(keys) }
  const argv = ['--child', kind, databaseUrl, sc.c, seconds, sc.groups ?? 0]
  const rs = await runTogether(sc.procs, () => startWorker(fileURLToPath(import.meta.url), argv, { env, stderr: 'inherit' }))
  return {
    calls: rs.reduce((n, r) => n + r.calls, 0),
    lat: rs.flatMap((r) => r.lat),
    seconds,
    eldP99: Math.max(...rs.map((r) => r.eldP99)),
    eldMax: Math.max(...rs.map((r) => r.eldMax)),
    rss: Math.max(...rs.map((r) => r.rss)),
    errors: rs.reduce((n, r) => n + r.errors, 0),
  }
}

function summarize(runs) {
  const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const per = runs.map((r) => {
    if (!r.lat) return { cps: r.calls / r.seconds, p50: r.p50, p99: r.p99, eldP99: NaN, eldMax: NaN, rss: NaN, errors: r.errors } // the Rust limit loop
    const sorted = r.lat.slice().sort((a, b) => a - b)
    return { cps: r.calls / r.seconds, p50: pct(sorted, 50), p99: pct(sorted, 99), eldP99: r.eldP99, eldMax: r.eldMax, rss: r.rss, errors: r.errors }
  })
  const out = Object.fromEntries(Object.keys(per[0]).map((k) => [k, med(per.map((p) => p[k]))]))
  out.runs = per.map((p) => p.cps)
  return out
}

// The runs' calls/s, lowest to highest, and the largest distance of a run from the median.
function spread(x) {
  const lo = Math.min(...x.runs)
  const hi = Math.max(...x.runs)
  const farthest = (100 * Math.max(x.cps - lo, hi - x.cps)) / x.cps
  return `${f(lo)}–${f(hi)} (±${f(farthest)} %)`
}

// ---------------------------------------------------------------- setup
// Direct (no PgBouncer: the bare loops use named prepared statements); vacuum() is the
// VACUUM ANALYZE before each run: of the keys, and of the tables the requestId and
// reservation rows write (their claims and holds).
async function setupPostgres(keys) {
  const db = await freshPostgres('bench', { name: `pspas_bench_${process.pid}`, bouncerPort: null })
  await seed(db, keys, GROUPS_SEEDED)
  const vacuum = () => db.query('VACUUM ANALYZE ps_private_access_store, ps_private_access_requests, ps_private_access_holds')
  return { ...db, vacuum }
}

// Every variant's hot key (through the package), then its spread groups, one key each, no
// budget, sealed by the package and written with multi-row INSERTs (addPreEncryptedKey's
// duplicate check reads the table per key: fine for adding keys, slow for 70,000 at once).
async function seed(db, keys, groups) {
  const configuration = { maxBudget: { perDay: null, petMonth: null, total: null }, emailNotificationBudgetThresholds: { daily: 0.8, monthly: 0.9 } }
  const hot = Object.values(BASE.hot).map((groupId) => ({ groupId, aiModelId: 1, plaintext: `sk-bench-${groupId}`, configuration }))
  await storeSealedKeys(S, { databaseUrl: db.url, keys, rows: hot, migrate: true })
  S.configure({ publicKey: keys.publicKey })
  const spreadGroups = Object.values(BASE.spread).flatMap((base) => Array.from({ length: groups }, (_, i) => base + i))
  const config = JSON.stringify(configuration)
  // SQLite's rows go through one python3 call per chunk (argv: at most 128 KiB per argument).
  const size = db.kind === 'postgres' ? 2000 : 100
  for (let i = 0; i < spreadGroups.length; i += size) {
    const chunk = spreadGroups.slice(i, i + size)
    const params = []
    const values = chunk.map((g) => {
      const sealed = S.encryptApiKey(`sk-bench-${g}`)
      params.push(g, config, sealed.encryptedApiKey, sealed.encryptedAesKey)
      const n = params.length
      return db.kind === 'postgres' ? `($${n - 3}, 1, 1, $${n - 2}::jsonb, $${n - 1}, $${n}, true)` : '(?, 1, 1, ?, ?, ?, 1)'
    })
    await db.query(
      `INSERT INTO ps_private_access_store (group_id, user_id, ai_model_id, configuration, encrypted_api_key, encrypted_aes_key, is_active) VALUES ${values.join(', ')}`,
      params,
    )
  }
  S.configure()
}

// ---------------------------------------------------------------- scenarios
const ALL_SCENARIOS = [
  { name: 'hot key, 1 in flight', c: 1, procs: 1, spread: false },
  { name: 'hot key, 8 in flight', c: 8, procs: 1, spread: false },
  { name: 'hot key, 32 in flight', c: 32, procs: 1, spread: false },
  { name: 'hot key, 4 processes × 32', c: 32, procs: 4, spread: false },
  { name: '1,000 groups, random, 32', c: 32, procs: 1, spread: true, groups: 1000 },
  // Not in --smoke (CI): each run first opens every group's key once per process.
  ...(SMOKE
    ? []
    : [
        { name: '1,000 groups, 4 processes × 32', c: 32, procs: 4, spread: true, groups: 1000 },
        { name: '10,000 groups, random, 32', c: 32, procs: 1, spread: true, groups: 10000 },
      ]),
]
const SCENARIOS = ALL_SCENARIOS.filter((sc) => SCENARIO_FILTER === null || sc.name.includes(SCENARIO_FILTER))
const GROUPS_SEEDED = Math.max(...SCENARIOS.map((sc) => sc.groups ?? 0))

// Connect and warm up; the picker of the scenario's groups. A spread scenario touches every
// group once first (with the scenario's calls in flight, each on its own groups): it measures
// the steady state of a serving process, whose data-key cache holds its keys (the cold cost,
// one RSA unwrap per key per cache lifetime, is reported by the crypto table).
async function warmUp(v, kind, sc) {
  if (!sc.groups) {
    for (let i = 0; i < 20; i++) await v.call(BASE.hot[kind])
    return () => BASE.hot[kind]
  }
  const base = BASE.spread[kind]
  await Promise.all(Array.from({ length: sc.c }, async (_, w) => { for (let g = w; g < sc.groups; g += sc.c) await v.call(base + g) }))
  return () => base + Math.floor(Math.random() * sc.groups)
}

// One run of one variant. PostgreSQL is vacuumed first (as pgbench runs are), so that the dead
// versions of a hot row left by the previous run do not handicap the next variant.
async function oneRun(kind, url, keys, sc, vacuum) {
  if (vacuum) await vacuum()
  if (kind === 'limit' && url.startsWith('sqlite:')) return sqliteLimitRun(url.slice('sqlite:'.length), sc)
  if (sc.procs > 1) return inChildren(kind, url, keys, sc, SECONDS)
  const v = makeVariant(kind, url, keys)
  const pick = await warmUp(v, kind, sc)
  const r = await closedLoop(v, pick, sc.c, SECONDS)
  await v.close()
  return r
}

// Wall time spent per variant (vacuum, warm-up and run), to keep the whole bench's length in view.
const WALL = {}

// Variants interleaved run by run (a, b, c, a, b, c, …): drift on this noisy machine then
// falls on all of them alike. Medians of RUNS.
async function measureAll(kinds, url, keys, sc, vacuum) {
  const runs = Object.fromEntries(kinds.map((k) => [k, []]))
  for (let i = 0; i < RUNS; i++) {
    for (const k of kinds) {
      const t = performance.now()
      runs[k].push(await oneRun(k, url, keys, sc, vacuum))
      const w = url.startsWith('sqlite:') ? `SQLite ${k}` : k
      WALL[w] = (WALL[w] || 0) + (performance.now() - t) / 1000
    }
  }
  return Object.fromEntries(kinds.map((k) => [k, summarize(runs[k])]))
}

// ---------------------------------------------------------------- replication
// What synchronous replication costs (README, "Deployment"): the package and the limit on a
// primary with a streaming standby, each a local PostgreSQL 15 cluster of its own
// (tools/harness/clusters.cjs; ports 5443 and 5444), the standby asynchronous and then
// synchronous (synchronous_standby_names = '*', synchronous_commit = on: each commit waits
// until the standby has its WAL on disk), switched by a configuration reload between runs.
// Modes interleaved run by run (their order alternating), the package and the limit side by
// side in each, VACUUM ANALYZE before every run. The standby is on the same machine: the
// price measured is its disk flush and the round trip on loopback, a floor for a standby
// elsewhere (add the network's round trip per commit).
const REPLICATION_SCENARIOS = ['hot key, 1 in flight', 'hot key, 32 in flight', '1,000 groups, random, 32']

async function replicationSection(keys) {
  const PRIMARY_PORT = 5443
  const primary = createPrimary('pspas_bench_a', PRIMARY_PORT)
  let standby
  try {
    primary.psql('CREATE DATABASE bench OWNER root')
    standby = createStandby('pspas_bench_b', 5444, PRIMARY_PORT)
    const url = `postgres://root@127.0.0.1:${PRIMARY_PORT}/bench`
    const db = { kind: 'postgres', url, query: (sql, params) => withClient(url, (c) => c.query(sql, params)) }
    await seed(db, keys, 1000)
    const vacuum = () => db.query('VACUUM ANALYZE ps_private_access_store')
    const kinds = ['package', 'limit']
    const out = []
    for (const sc of ALL_SCENARIOS.filter((x) => REPLICATION_SCENARIOS.includes(x.name))) {
      const runs = { async: { package: [], limit: [] }, sync: { package: [], limit: [] } }
      for (let i = 0; i < RUNS; i++) {
        for (const mode of i % 2 === 0 ? ['async', 'sync'] : ['sync', 'async']) {
          await primary.setSynchronous(mode === 'sync')
          for (const kind of kinds) {
            const t = performance.now()
            runs[mode][kind].push(await oneRun(kind, url, keys, sc, vacuum))
            WALL[`${mode} standby ${kind}`] = (WALL[`${mode} standby ${kind}`] || 0) + (performance.now() - t) / 1000
          }
        }
      }
      for (const kind of kinds) out.push({ sc: sc.name, kind, async: summarize(runs.async[kind]), sync: summarize(runs.sync[kind]) })
    }
    console.log(`\n### Synchronous replication's price (primary + streaming standby on this machine; median of ${RUNS} × ${SECONDS} s per mode)\n`)
    console.log('| scenario | variant | async standby calls/s | sync standby calls/s | sync/async calls/s | p50 async / sync (ms) | package/limit, sync |')
    console.log('|---|---|---|---|---|---|---|')
    for (const r of out) {
      const limit = out.find((x) => x.sc === r.sc && x.kind === 'limit')
      console.log(`| ${r.sc} | ${r.kind} | ${f(r.async.cps)} | ${f(r.sync.cps)} | ${f(r.sync.cps / r.async.cps, 2)} | ${f(r.async.p50, 2)} / ${f(r.sync.p50, 2)} | ${r.kind === 'package' ? f(r.sync.cps / limit.sync.cps, 2) + '×' : ''} |`)
    }
  } finally {
    primary.drop()
    if (standby) standby.drop()
  }
}

// ---------------------------------------------------------------- the SQLite limit (a Rust child)
// Built once at the start, in the target directory that `npm run build` (napi build --release
// --target <host>) and scripts/test.sh use, so the dependencies are not compiled again (the
// crate itself is, when its sources changed: an example links the library). A binary newer
// than its inputs (the example, the SQL it includes, Cargo.lock) is run as it is: it uses
// none of the library's code. If the build fails (say, a source tree mid-edit), an existing
// binary is used, with a warning. PSPAS_BENCH_SQLITE_LIMIT=/path/to/sqlite_limit skips all this.
function buildSqliteLimit() {
  if (process.env.PSPAS_BENCH_SQLITE_LIMIT) return { bin: process.env.PSPAS_BENCH_SQLITE_LIMIT, note: 'PSPAS_BENCH_SQLITE_LIMIT' }
  const root = fileURLToPath(new URL('..', import.meta.url))
  let host
  try {
    host = /^host: (.+)$/m.exec(execFileSyncText('rustc', ['-vV']))[1]
  } catch (e) {
    return { bin: null, note: `no Rust toolchain (${e.message})` }
  }
  const bin = join(root, 'target', host, 'release', 'examples', `sqlite_limit${process.platform === 'win32' ? '.exe' : ''}`)
  const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : Infinity)
  const inputs = ['examples/sqlite_limit.rs', 'benches/plain-increment-sqlite.sql', 'Cargo.lock'].map((p) => mtime(join(root, p)))
  if (existsSync(bin) && inputs.every((m) => m <= mtime(bin))) return { bin, note: 'up to date, not rebuilt' }
  const t = performance.now()
  const r = spawnSync('cargo', ['build', '--release', '--target', host, '--example', 'sqlite_limit'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] })
  const took = `${((performance.now() - t) / 1000).toFixed(1)} s`
  if (r.status === 0) return { bin, note: `cargo build --release --example sqlite_limit: ${took}` }
  const why = (r.stderr || String(r.error)).trim().split('\n').slice(-5).join('\n')
  console.error(`bench: building the SQLite limit failed (${took}):\n${why}`)
  if (existsSync(bin)) return { bin, note: 'its build FAILED, an older binary is used' }
  return { bin: null, note: 'its build FAILED' }
}

function execFileSyncText(cmd, argv) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(r.error ? r.error.message : r.stderr.trim())
  return r.stdout
}

let SQLITE_LIMIT = null // { bin, note }

function sqliteLimit(extra) {
  return new Promise((resolve, reject) =>
    execFile(SQLITE_LIMIT.bin, extra, { encoding: 'utf8', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`sqlite_limit ${extra.join(' ')}: ${stderr || err.message}`))
      resolve(JSON.parse(stdout.trim().split('\n').pop()))
    }),
  )
}

// Same pool as the package's (POOL connections, all opened), 20 warm-up calls, its own hot group.
function sqliteLimitRun(file, sc) {
  const flags = ['--db', file, '--group', String(BASE.hot.limit), '--model', '1', '--inflight', String(sc.c), '--seconds', String(SECONDS), '--pool', String(POOL), '--pool-min', String(POOL), '--warmup', '20']
  return sqliteLimit(flags)
}

const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–')

function cryptoBench(keys) {
  const N = SMOKE ? 50 : 2000
  const time = (fn) => {
    const reps = []
    for (let r = 0; r < 5; r++) {
      const t = performance.now()
      for (let i = 0; i < N; i++) fn(i)
      reps.push(((performance.now() - t) * 1000) / N)
    }
    return reps.sort((a, b) => a - b)[2]
  }
  const sealed = original.encryptApiKey('sk-crypto-bench-0123456789', keys.publicKey)
  const rows = []
  S.configure({ publicKey: keys.publicKey, privateKey: keys.privateKey })
  rows.push(['encryptApiKey', time(() => original.encryptApiKey('sk-crypto-bench-0123456789', keys.publicKey)), time(() => S.encryptApiKey('sk-crypto-bench-0123456789'))])
  const nodeDecrypt = time(() => original.decryptApiKey(sealed.encryptedApiKey, sealed.encryptedAesKey, keys.privateKey))
  S.configure({ publicKey: keys.publicKey, privateKey: keys.privateKey, keyCache: false })
  rows.push(['decryptApiKey, first use (no cache)', nodeDecrypt, time(() => S.decryptApiKey(sealed.encryptedApiKey, sealed.encryptedAesKey))])
  S.configure({ publicKey: keys.publicKey, privateKey: keys.privateKey })
  rows.push(['decryptApiKey, cached data key', nodeDecrypt, time(() => S.decryptApiKey(sealed.encryptedApiKey, sealed.encryptedAesKey))])
  console.log(`\n### Crypto per call (median of 5 × ${N}, µs; node:crypto does the original's work, PEM passed per call)\n`)
  console.log('| operation | node:crypto µs | package µs | package/node time |')
  console.log('|---|---|---|---|')
  for (const [name, node, pkg] of rows) console.log(`| ${name} | ${f(node, 1)} | ${f(pkg, 1)} | ${f(pkg / node, 2)} |`)
}

// --soak [minutes]: the package alone on PostgreSQL, 10,000 groups, 32 in flight, for that many
// minutes (10 by default): calls/s and RSS per minute, to show that neither drifts.
async function soak(keys, minutes) {
  const db = await freshPostgres('soak', { name: `pspas_soak_${process.pid}`, bouncerPort: null })
  try {
    const sc = { c: 32, groups: 10000 }
    await seed(db, keys, sc.groups)
    await db.vacuum()
    const v = makeVariant('package', db.url, keys)
    const warm = performance.now()
    const pick = await warmUp(v, 'package', sc)
    console.log(`\n### Soak: PostgreSQL, 10,000 groups, 32 in flight, ${minutes} min (warm-up: every group once, ${f((performance.now() - warm) / 1000, 1)} s)\n`)
    console.log('| minute | calls/s | p50 ms | p99 ms | RSS MB at its end | heap used MB |')
    console.log('|---|---|---|---|---|---|')
    const rows = []
    for (let m = 1; m <= minutes; m++) {
      const r = await closedLoop(v, pick, sc.c, 60)
      const sorted = r.lat.sort((a, b) => a - b)
      const mem = process.memoryUsage()
      rows.push({ cps: r.calls / 60, rss: mem.rss / 2 ** 20 })
      console.log(`| ${m} | ${f(r.calls / 60)} | ${f(pct(sorted, 50), 2)} | ${f(pct(sorted, 99), 2)} | ${f(mem.rss / 2 ** 20)} | ${f(mem.heapUsed / 2 ** 20)} |`)
    }
    await v.close()
    const from = rows[Math.min(2, rows.length - 1)]
    const last = rows[rows.length - 1]
    console.log(`\nRSS from the end of minute ${Math.min(3, rows.length)} to the end: ${f(from.rss)} → ${f(last.rss)} MB (${f((100 * (last.rss - from.rss)) / from.rss, 1)} %); calls/s last minute / first: ${f(last.cps / rows[0].cps, 2)}×`)
  } finally {
    await db.drop()
  }
}

const STARTED = performance.now()
async function main() {
  const keys = generateKeys(2048)
  if (args.includes('--soak')) {
    const i = args.indexOf('--soak')
    const minutes = Number(args[i + 1]) > 0 ? Number(args[i + 1]) : 10
    console.log(`# npm run bench ${args.join(' ')}`.trim())
    console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0].model}, pools of ${POOL}, RSA-2048`)
    return soak(keys, minutes)
  }
  console.log(`# npm run bench ${args.join(' ')}`.trim())
  console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0].model}, ${SECONDS} s per run, median of ${RUNS} run(s), pools of ${POOL}, RSA-2048`)
  if (ONLY.includes('sqlite')) SQLITE_LIMIT = buildSqliteLimit()
  if (ONLY.includes('pg')) await pgSection(keys)
  if (ONLY.includes('sqlite')) await sqliteSection(keys)
  if (ONLY.includes('crypto')) cryptoBench(keys)
  if (ONLY.includes('replication')) await replicationSection(keys)
  const byVariant = Object.entries(WALL).map(([k, s]) => `${k} ${f(s)} s`).join(', ')
  console.log(`\nWall time: ${f((performance.now() - STARTED) / 1000)} s (runs by variant, with their vacuum and warm-up: ${byVariant})`)
}

async function pgSection(keys) {
  const pgdb = await setupPostgres(keys)
  try {
    console.log('\n### PostgreSQL (local)\n')
    console.log('limit = the plain single-statement increment (benches/plain-increment-pg.sql) from a bare `pg` loop; statement = the package\'s own budget statement from the same loop (diagnostic)\n')
    console.log('Ratios are of medians (calls/s; p50 for latency). Runs: every run\'s calls/s, lowest to highest, and the largest distance of one from the median.\n')
    console.log('| scenario | variant | calls/s | runs | p50 ms | p99 ms | loop delay p99 / max ms | peak RSS MB | errors | package/baseline | package/limit | package/statement | p50 package/limit |')
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    const idempotent = []
    for (const sc of SCENARIOS) {
      const r = await measureAll(VARIANTS, pgdb.url, keys, sc, pgdb.vacuum)
      for (const kind of VARIANTS) {
        const x = r[kind]
        // Every package variant against the limit; the package also against the baseline and its own statement.
        const ratios = kind === 'package'
          ? `${f(x.cps / r.baseline?.cps, 2)}× | ${f(x.cps / r.limit.cps, 2)}× | ${f(x.cps / r.statement?.cps, 2)}× | ${f(x.p50 / r.limit.p50, 2)}×`
          : kind.startsWith('package') ? ` | ${f(x.cps / r.limit.cps, 2)}× | | ${f(x.p50 / r.limit.p50, 2)}×` : ' | | | '
        console.log(`| ${sc.name} | ${kind} | ${f(x.cps)} | ${spread(x)} | ${f(x.p50, 2)} | ${f(x.p99, 2)} | ${f(x.eldP99, 1)} / ${f(x.eldMax, 1)} | ${f(x.rss)} | ${x.errors} | ${ratios} |`)
      }
      for (const kind of TWO_STEP.filter((k) => r[k])) {
        const x = r[kind]
        idempotent.push(`| ${sc.name} | ${kind} | ${f(x.cps)} | ${f(x.cps / r.package.cps, 2)}× | ${f(x.cps / r['package, no coalescing']?.cps, 2)}× | ${f(x.cps / r.limit.cps, 2)}× | ${f(x.p50 / r.package.p50, 2)}× |`)
      }
    }
    console.log('\n#### Every call with its own requestId; every call a reserve then its settle (never coalesced)\n')
    console.log('| scenario | variant | calls/s | /package | /package, no coalescing | /limit | p50 /package |')
    console.log('|---|---|---|---|---|---|---|')
    for (const row of idempotent) console.log(row)
  } finally {
    await pgdb.drop()
  }
}

async function sqliteSection(keys) {
  const db = await freshSqlite('bench', { fileName: 'bench.sqlite' })
  try {
    const { file, url } = db
    await seed(db, keys, GROUPS_SEEDED)
    const limit = SQLITE_LIMIT && SQLITE_LIMIT.bin ? SQLITE_LIMIT : null
    // The vacuum between runs, and the settings read back from a connection opened as the package opens it.
    const vacuum = limit ? () => sqliteLimit(['--db', file, '--vacuum-only']) : null
    const setting = limit ? await sqliteLimit(['--db', file, '--vacuum-only', ...(SQLITE_ANALYZE ? ['--analyze'] : [])]) : null
    const sync = setting ? `synchronous = ${setting.synchronous}, journal_mode = ${setting.journal_mode}` : 'synchronous = FULL, journal_mode = wal (not read back: no limit binary)'
    console.log('\n### SQLite (embedded default; no baseline: it would need the sqlite3 native package)\n')
    const busy = setting ? `busy_timeout ${setting.busy_timeout_ms / 1000} s` : 'busy_timeout 30 s'
    const why = !setting || setting.synchronous === 'FULL'
      ? "the package sets no `synchronous`, so sqlx leaves SQLite's compiled default (FULL), which in WAL mode syncs the WAL on every commit: a committed call survives a power loss, not only a process crash"
      : "NOT the package's default (FULL): this is a modified build"
    console.log(`${sync}, ${busy}, pools of ${POOL} (read back from a connection opened as the package opens it): ${why}`)
    console.log(`limit = the plain single-statement increment (benches/plain-increment-sqlite.sql) from a bare Rust loop, no Node↔Rust hop (examples/sqlite_limit.rs; ${SQLITE_LIMIT ? SQLITE_LIMIT.note : 'not run'}); VACUUM + wal_checkpoint(TRUNCATE) before each run${limit ? '' : ' (skipped: no limit binary)'}${SQLITE_ANALYZE && limit ? '; ANALYZE run after seeding (--sqlite-analyze)' : ''}\n`)
    console.log('| scenario | calls/s | runs | p50 ms | p99 ms | loop delay p99 / max ms | peak RSS MB | errors |')
    console.log('|---|---|---|---|---|---|---|---|')
    const sideBySide = []
    for (const sc of SCENARIOS) {
      const kinds = limit && SQLITE_LIMIT_SCENARIOS.includes(sc.name) ? ['package', 'limit'] : ['package']
      const r = await measureAll(kinds, url, keys, sc, vacuum)
      const x = r.package
      console.log(`| ${sc.name} | ${f(x.cps)} | ${spread(x)} | ${f(x.p50, 2)} | ${f(x.p99, 2)} | ${f(x.eldP99, 1)} / ${f(x.eldMax, 1)} | ${f(x.rss)} | ${x.errors} |`)
      if (r.limit) sideBySide.push([sc, r])
    }
    if (sideBySide.length) {
      console.log(`\n#### SQLite: the package against its limit (${sync}; the package rows are those above)\n`)
      console.log('| scenario | variant | calls/s | runs | p50 ms | p99 ms | errors | package/limit calls/s |')
      console.log('|---|---|---|---|---|---|---|---|')
      for (const [sc, r] of sideBySide) {
        for (const kind of ['package', 'limit']) {
          const x = r[kind]
          const ratio = kind === 'package' ? `${f(x.cps / r.limit.cps, 2)}×` : ''
          console.log(`| ${sc.name} | ${kind} | ${f(x.cps)} | ${spread(x)} | ${f(x.p50, 2)} | ${f(x.p99, 2)} | ${x.errors} | ${ratio} |`)
        }
      }
    }
  } finally {
    await db.drop()
  }
}

await main()
process.exit(0)

// The failover drill (`npm run failover-drill`; `-- --short` is the version CI runs): a primary
// and its streaming standby, each a local PostgreSQL 15 cluster of its own (Debian's
// pg_createcluster; the standby made with pg_basebackup -R), 32 calls in flight from 2
// processes on 16 keys (one per group; each process's lane i on group 1 + i % 16), the primary stopped in immediate mode (no checkpoint, its backends and
// WAL sender gone at once, as in a crash), and the standby promoted a second later (what a
// failover manager takes to decide). Four runs, each on a fresh pair:
//   replication  sync: synchronous_standby_names = '*', synchronous_commit = on (a commit is
//                acknowledged once the standby has it on disk); async: the default
//   path         url: a multi-host URL listing both servers (target_session_attrs=read-write,
//                this package's default with several hosts); pgbouncer: one PgBouncer, re-pointed
//                at the standby right after the stop (before the promotion, so its first
//                statements land on a read-only server), reloaded with SIGHUP
// Two more runs (multi-host URL, sync and async) stall the primary's WAL sender (SIGSTOP) for
// the last 500 ms before the stop; it gets the stop's SIGQUIT before it runs again (SIGCONT),
// so what it had not sent is gone with the primary: a standby fallen behind (a network hiccup,
// a busy standby), which is where an asynchronous standby loses what the primary acknowledged,
// and where a synchronous one makes the commits wait instead.
// Every call carries a requestId and is sent again with it after PSPAS_DB_OUTCOME_UNKNOWN,
// PSPAS_DB_UNAVAILABLE or PSPAS_DB_ERROR, as an application would (load-worker.mjs), so each
// acknowledged call is one increment. Reported per run: calls, keys delivered (acknowledged),
// the promoted server's counter, acknowledged increments lost (delivered - counter), errors by
// code, unknown outcomes and how long after the stop the last one came, statements refused by
// a read-only server, and the time from the promotion to the first success. For async runs,
// the standby's replay lag sampled while the load ran (the loss window).
//
// The run fails (exit 1) if a synchronous run lost an acknowledged increment, took over 2 s
// from the promotion to its first success, or reported an unknown outcome later than the
// stop's own in-flight statements; or if any run counted more than it delivered, left a call
// unresolved, or reported more unknown outcomes than connections (2 pools of 5) busy at the
// crash: a statement a read-only server refused is never one of them.
//
// Needs root (pg_createcluster, pg_basebackup) and Debian's pgbouncer (scripts/pgbouncer.sh
// installs it). Ports 5441/5442 (clusters pspas_fo_a, pspas_fo_b) and 6545 (PgBouncer).
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const { generateKeys, childEnv, storeSealedKeys, startWorker, parseReport, withClient } = require('../harness/index.cjs')
const { createPrimary, createStandby } = require('../harness/clusters.cjs')
const LOAD_WORKER = fileURLToPath(new URL('./load-worker.mjs', import.meta.url))
const PGBOUNCER_SH = fileURLToPath(new URL('../../scripts/pgbouncer.sh', import.meta.url))
const SHORT = process.argv.includes('--short')

const PRIMARY = { name: 'pspas_fo_a', port: 5441 }
const STANDBY = { name: 'pspas_fo_b', port: 5442 }
const BOUNCER = { dir: '/tmp/pspas-failover-pgbouncer', port: 6545 }
const DB = 'drill'
const KEY = 'sk-failover'
const SECONDS = SHORT ? 7 : 12
const STOP_AT_MS = SHORT ? 2500 : 4000
const DETECT_MS = 1000
const PROCESSES = 2
const IN_FLIGHT = 16
const GROUPS = 16

const keys = generateKeys()
const ENV = childEnv(keys)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const directUrl = (port) => `postgres://root@127.0.0.1:${port}/${DB}`

function startBouncer(targetPort) {
  // A PgBouncer left by an interrupted drill may point at another port: stop it first.
  try {
    process.kill(Number(fs.readFileSync(`${BOUNCER.dir}/pgbouncer.pid`, 'utf8')), 'SIGTERM')
    execFileSync('sleep', ['0.3'])
  } catch {}
  execFileSync('bash', [PGBOUNCER_SH], {
    env: { ...process.env, PGB_DIR: BOUNCER.dir, PGB_PORT: String(BOUNCER.port), PGB_TARGET_PORT: String(targetPort), PGB_POOL_SIZE: '20', PGB_EXTRA: 'server_login_retry = 0.2' },
    stdio: 'pipe',
  })
  const pid = () => Number(fs.readFileSync(`${BOUNCER.dir}/pgbouncer.pid`, 'utf8'))
  return {
    url: `postgres://root@127.0.0.1:${BOUNCER.port}/${DB}?pgbouncer=true`,
    /** Point it at another server and reload (SIGHUP), as a failover manager's hook does. */
    repoint(port) {
      const ini = `${BOUNCER.dir}/pgbouncer.ini`
      fs.writeFileSync(ini, fs.readFileSync(ini, 'utf8').replace(/port=\d+/, `port=${port}`))
      process.kill(pid(), 'SIGHUP')
    },
    stop() {
      try {
        process.kill(pid(), 'SIGTERM')
      } catch {}
    },
  }
}

/** The pids of a process's children (none once it has gone). */
function childrenOf(pid) {
  try {
    return execFileSync('ps', ['--ppid', String(pid), '-o', 'pid='], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number)
  } catch {
    return []
  }
}

async function counterOn(port) {
  return withClient(directUrl(port), async (c) => {
    const { rows } = await c.query("SELECT sum((usage->>'totalUse')::numeric) AS total FROM ps_private_access_store")
    return Number(rows[0].total)
  })
}

async function run(replication, path, stallMs = 0) {
  const primary = createPrimary(PRIMARY.name, PRIMARY.port)
  let standby
  let bouncer
  try {
    primary.psql(`CREATE DATABASE ${DB} OWNER root`)
    standby = createStandby(STANDBY.name, STANDBY.port, PRIMARY.port)
    if (replication === 'sync') await primary.setSynchronous(true)
    // The key, on the primary (and so on the standby).
    const { PsPrivateAccessStore: S } = require('../..')
    await storeSealedKeys(S, { databaseUrl: directUrl(PRIMARY.port), keys, rows: Array.from({ length: GROUPS }, (_, i) => ({ groupId: 1 + i, plaintext: KEY })) })
    await S.close()

    let url
    if (path === 'url') url = `postgres://root@127.0.0.1:${PRIMARY.port},127.0.0.1:${STANDBY.port}/${DB}`
    else {
      bouncer = startBouncer(PRIMARY.port)
      url = bouncer.url
    }
    // The WAL sender, looked up before the load: psql takes ~100 ms, which the stall's start must not include.
    const sender = stallMs > 0 ? Number(primary.psql("SELECT pid FROM pg_stat_replication WHERE state = 'streaming'")) : null
    const workers = Array.from({ length: PROCESSES }, () =>
      startWorker(LOAD_WORKER, [url, 1, SECONDS, IN_FLIGHT, '1', KEY, GROUPS], { env: ENV, stdin: 'ignore', stderr: 'inherit' }),
    )
    // The standby's replay lag behind the primary, every 100 ms until the stop (bytes of WAL).
    const lags = []
    const sampling = (async () => {
      const started = Date.now()
      while (Date.now() - started < STOP_AT_MS - stallMs - 150) {
        try {
          const out = primary.psql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint FROM pg_stat_replication WHERE state = 'streaming'")
          if (out !== '') lags.push(Number(out))
        } catch {}
        await sleep(100)
      }
    })()
    let stallStart = null
    if (stallMs > 0) {
      await sleep(STOP_AT_MS - stallMs)
      stallStart = Date.now()
      process.kill(sender, 'SIGSTOP')
      await sleep(stallMs)
    } else {
      await sleep(STOP_AT_MS)
    }
    await sampling
    const stoppedAt = Date.now()
    if (sender) {
      // The sender runs again only once every other process of the primary has gone, so the
      // stop's SIGQUIT is waiting for it: it quits without sending what it had not sent.
      const postmaster = primary.postmasterPid()
      const stopping = primary.stopImmediateAsync()
      const until = Date.now() + 4000
      while (Date.now() < until && childrenOf(postmaster).some((pid) => pid !== sender)) await sleep(10)
      process.kill(sender, 'SIGCONT')
      await stopping
    } else {
      primary.stopImmediate()
    }
    const stopEnded = Date.now()
    if (bouncer) bouncer.repoint(STANDBY.port)
    await sleep(DETECT_MS)
    const promoteAt = Date.now()
    standby.promote()
    const promotedAt = Date.now()
    const reports = []
    for (const w of workers) {
      const { code, out } = await w.exited
      const report = parseReport(out)
      if (!report) throw new Error(`${replication}/${path}: a worker exited ${code} without a report`)
      reports.push(report)
    }
    const counter = await counterOn(STANDBY.port)
    const okTimes = reports.flatMap((r) => r.okTimes).sort((x, y) => x - y)
    const unknownTimes = reports.flatMap((r) => r.unknownTimes)
    const errors = {}
    for (const r of reports) for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] || 0) + n
    const delivered = okTimes.length
    const first = okTimes.find((t) => t >= promoteAt)
    const sorted = [...lags].sort((x, y) => x - y)
    return {
      replication,
      path: stallMs > 0 ? `${path}, standby stalled ${stallMs} ms before the stop` : path,
      calls: delivered + reports.reduce((n, r) => n + r.errTimes.length, 0),
      delivered,
      counter,
      lost: delivered - counter,
      // Acknowledged from the stall to the primary's end: what an asynchronous standby misses.
      ackedWhileStalled: stallMs > 0 ? okTimes.filter((t) => t >= stallStart && t <= stopEnded).length : null,
      unresolved: reports.reduce((n, r) => n + r.unresolved, 0),
      retries: reports.reduce((n, r) => n + r.retries, 0),
      errors,
      unknown: unknownTimes.length,
      lastUnknownAfterStopMs: unknownTimes.length === 0 ? null : Math.max(...unknownTimes) - stoppedAt,
      readOnlyRefusals: reports.reduce((n, r) => n + r.diagnostics.readOnlyRefusals, 0),
      serverMoves: reports.reduce((n, r) => n + r.diagnostics.serverMoves, 0),
      promoteMs: promotedAt - promoteAt,
      firstSuccessAfterPromoteMs: first === undefined ? null : first - promoteAt,
      lagBytes: sorted.length === 0 ? null : { p50: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] },
      messages: Object.fromEntries(reports.flatMap((r) => Object.entries(r.lastMessage))),
    }
  } finally {
    if (bouncer) bouncer.stop()
    primary.drop()
    if (standby) standby.drop()
  }
}

const STALL_MS = 500
const runs = [
  ['sync', 'url'],
  ['sync', 'pgbouncer'],
  ['async', 'url'],
  ['async', 'pgbouncer'],
  ['sync', 'url', STALL_MS],
  ['async', 'url', STALL_MS],
]
const rows = []
for (const [replication, path, stall] of runs) {
  const r = await run(replication, path, stall)
  rows.push(r)
  process.stderr.write(`${replication}/${r.path}: ${r.delivered} delivered (${r.ackedWhileStalled} while stalled), counter ${r.counter}, first success ${r.firstSuccessAfterPromoteMs} ms after the promotion\n`)
}

// The verdict per run (see the header).
for (const r of rows) {
  const problems = []
  if (r.counter > r.delivered) problems.push('counted more than it delivered')
  if (r.unresolved > 0) problems.push(`${r.unresolved} calls unresolved`)
  // One unknown outcome at most per connection busy at the crash (pools of DB_POOL_MAX = 5).
  if (r.unknown > PROCESSES * 5) problems.push(`${r.unknown} unknown outcomes for ${PROCESSES * 5} connections`)
  if (r.replication === 'sync') {
    if (r.lost !== 0) problems.push(`${r.lost} acknowledged increments lost`)
    if (r.firstSuccessAfterPromoteMs === null || r.firstSuccessAfterPromoteMs > 2000) problems.push('no success within 2 s of the promotion')
    if (r.lastUnknownAfterStopMs !== null && r.lastUnknownAfterStopMs >= DETECT_MS) problems.push('an unknown outcome after the stop\'s in-flight statements')
  }
  r.verdict = problems.length === 0 ? 'ok' : problems.join('; ')
}

console.log(`# npm run failover-drill${SHORT ? ' -- --short' : ''}`)
console.log(
  `node ${process.version}; PostgreSQL 15 primary + streaming standby (local clusters); ${PROCESSES} processes x ${IN_FLIGHT} calls in flight on ${GROUPS} keys for ${SECONDS} s, every call with a requestId (retried with it); the primary stopped in immediate mode at ${STOP_AT_MS / 1000} s, the standby promoted ${DETECT_MS} ms later\n`,
)
console.log('| replication | path | calls | delivered (acknowledged) | promoted server\'s counter | acknowledged lost | errors by code | unknown outcomes (last, ms after the stop) | read-only refusals | acknowledged while the standby was stalled | first success after promotion (ms) | standby replay lag at load, p50 / max (bytes) | verdict |')
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  const unknown = r.unknown === 0 ? '0' : `${r.unknown} (${r.lastUnknownAfterStopMs})`
  const lag = r.lagBytes ? `${r.lagBytes.p50} / ${r.lagBytes.max}` : 'n/a'
  console.log(`| ${r.replication} | ${r.path} | ${r.calls} | ${r.delivered} | ${r.counter} | ${r.lost} | ${JSON.stringify(r.errors)} | ${unknown} | ${r.readOnlyRefusals} | ${r.ackedWhileStalled ?? '-'} | ${r.firstSuccessAfterPromoteMs} | ${lag} | ${r.verdict} |`)
}
console.log('\n' + JSON.stringify(rows.map(({ replication, path, promoteMs, retries, serverMoves, messages }) => ({ replication, path, promoteMs, retries, serverMoves, messages })), null, 1))
process.exit(rows.every((r) => r.verdict === 'ok') ? 0 : 1)

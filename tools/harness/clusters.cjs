// Local PostgreSQL 15 clusters of their own, made with Debian's tools, for what the one shared
// server cannot show: a primary and a streaming standby of it (the failover drill, the bench's
// replication section), and the spare server that failover.spec.cjs demotes
// (scripts/spare-cluster.sh). Trust auth, role root. The primary and the standby are made
// fresh (an existing cluster of that name is dropped first) and dropped with drop(); the
// spare is made once and kept. Needs root (pg_createcluster, and pg_basebackup as postgres).
'use strict'
const { execFile, execFileSync } = require('node:child_process')
const fs = require('node:fs')

const VERSION = '15'
const run = (cmd, args) => execFileSync(cmd, args.map(String), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const dataDir = (name) => `/var/lib/postgresql/${VERSION}/${name}`
const ctlArgs = (name, action, more) => ['--skip-systemctl-redirect', ...more, VERSION, name, action]
const ctl = (name, action, ...more) => run('pg_ctlcluster', ctlArgs(name, action, more))
/** pg_lsclusters' row of the cluster, split in columns (version, name, port, status, ...), or undefined. */
const listed = (name) => run('pg_lsclusters', ['-h']).split('\n').map((l) => l.split(/\s+/)).find((c) => c[1] === name)
const drop = (name) => listed(name) && run('pg_dropcluster', ['--stop', VERSION, name])
const make = (name, port, options = []) => run('pg_createcluster', [VERSION, name, '-p', port, ...options.flatMap((o) => ['-o', o]), '--', '--auth=trust'])
const sleepMs = (ms) => execFileSync('sleep', [String(ms / 1000)])

/** One statement as postgres on the cluster at port (psql, unaligned, tuples only). */
const psql = (port, sql, db = 'postgres') => run('psql', ['-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-Atqc', sql]).trim()

/** Does a server accept connections on port? */
function ready(port) {
  try {
    run('pg_isready', ['-q', '-h', '127.0.0.1', '-p', port])
    return true
  } catch {
    return false
  }
}

function waitReady(port, timeoutMs = 30000) {
  const until = Date.now() + timeoutMs
  while (!ready(port)) {
    if (Date.now() > until) throw new Error(`the cluster on port ${port} did not come up`)
    sleepMs(100)
  }
}

/** The cluster name on port, made if missing, started if down, with role root. */
function ensure(name, port, options) {
  if (!listed(name)) make(name, port, options)
  if (!listed(name)[3].startsWith('online')) ctl(name, 'start')
  waitReady(port)
  if (psql(port, "SELECT count(*) FROM pg_roles WHERE rolname = 'root'") === '0') psql(port, 'CREATE ROLE root SUPERUSER LOGIN')
  return cluster(name, port)
}

/** A fresh, started primary on port with role root. options: extra `name=value` settings. */
function createPrimary(name, port, options = []) {
  drop(name)
  return ensure(name, port, ['shared_buffers=64MB', ...options])
}

/** A fresh streaming standby of the primary on primaryPort (pg_basebackup -R), started, streaming. */
function createStandby(name, port, primaryPort) {
  drop(name)
  make(name, port, ['shared_buffers=64MB'])
  // pg_basebackup fills the (emptied) data directory the cluster was made with.
  for (const entry of fs.readdirSync(dataDir(name))) fs.rmSync(`${dataDir(name)}/${entry}`, { recursive: true, force: true })
  run('runuser', ['-u', 'postgres', '--', 'pg_basebackup', '-h', '127.0.0.1', '-p', primaryPort, '-U', 'postgres', '-D', dataDir(name), '-R', '-X', 'stream', '-c', 'fast'])
  ctl(name, 'start')
  waitReady(port)
  const until = Date.now() + 30000
  while (psql(primaryPort, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") !== '1') {
    if (Date.now() > until) throw new Error(`the standby on port ${port} does not stream`)
    sleepMs(100)
  }
  return cluster(name, port)
}

/**
 * The spare server of failover.spec.cjs: cluster pspas_spare on port (kept between runs),
 * with database test, writable (a run stopped half-way may have left it demoted).
 */
function ensureSpare(port) {
  const name = 'pspas_spare'
  if (!listed(name) && ready(port)) throw new Error(`something else answers on 127.0.0.1:${port}; set SPARE_PORT to a free port`)
  const spare = ensure(name, port, ['shared_buffers=32MB'])
  if (spare.psql("SELECT count(*) FROM pg_database WHERE datname = 'test'") === '0') spare.psql('CREATE DATABASE test OWNER root')
  spare.psql('ALTER SYSTEM RESET default_transaction_read_only')
  spare.psql('SELECT pg_reload_conf()')
  return spare
}

function cluster(name, port) {
  return {
    name,
    port,
    psql: (sql, db) => psql(port, sql, db),
    /** Stop in immediate mode: no checkpoint, backends and WAL senders quit at once (a crash). */
    stopImmediate: () => ctl(name, 'stop', '-m', 'immediate'),
    /** The postmaster's pid (first line of postmaster.pid). */
    postmasterPid: () => Number(fs.readFileSync(`${dataDir(name)}/postmaster.pid`, 'utf8').split('\n')[0]),
    /** The same, not waiting: resolves when the stop has ended. */
    stopImmediateAsync: () =>
      new Promise((resolve, reject) =>
        execFile('pg_ctlcluster', ctlArgs(name, 'stop', ['-m', 'immediate']), (e) => (e ? reject(e) : resolve())),
      ),
    /** A primary's standbys synchronous (each commit waits for one to have it on disk) or not; returns once the streaming standby reports that state. */
    async setSynchronous(on, timeoutMs = 10000) {
      psql(port, on ? "ALTER SYSTEM SET synchronous_standby_names = '*'" : 'ALTER SYSTEM RESET synchronous_standby_names')
      psql(port, 'SELECT pg_reload_conf()')
      const until = Date.now() + timeoutMs
      while (psql(port, "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'") !== (on ? 'sync' : 'async')) {
        if (Date.now() > until) throw new Error(`the standby did not become ${on ? 'synchronous' : 'asynchronous'}`)
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    /** pg_ctl promote, which waits until the server takes writes. */
    promote: () => ctl(name, 'promote'),
    drop: () => drop(name),
  }
}

module.exports = { createPrimary, createStandby, ensureSpare }

// `node clusters.cjs spare [port]` (scripts/spare-cluster.sh).
if (require.main === module && process.argv[2] === 'spare') {
  const port = process.argv[3] || '5434'
  ensureSpare(port)
  console.log(`spare PostgreSQL cluster up on 127.0.0.1:${port}`)
}

// Local PostgreSQL 15 clusters of their own, made with Debian's tools, for what the one shared
// server cannot show: a primary and a streaming standby of it (the failover drill). Each is
// made fresh (an existing cluster of that name is dropped first), trust auth, role root;
// dropped with drop(). Needs root (pg_createcluster, and pg_basebackup as postgres).
'use strict'
const { execFile, execFileSync } = require('node:child_process')
const fs = require('node:fs')

const VERSION = '15'
const run = (cmd, args) => execFileSync(cmd, args.map(String), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const dataDir = (name) => `/var/lib/postgresql/${VERSION}/${name}`
const ctlArgs = (name, action, more) => ['--skip-systemctl-redirect', ...more, VERSION, name, action]
const ctl = (name, action, ...more) => run('pg_ctlcluster', ctlArgs(name, action, more))
const exists = (name) => run('pg_lsclusters', ['-h']).split('\n').some((l) => l.split(/\s+/)[1] === name)
const drop = (name) => exists(name) && run('pg_dropcluster', ['--stop', VERSION, name])

/** One statement as postgres on the cluster at port (psql, unaligned, tuples only). */
const psql = (port, sql, db = 'postgres') => run('psql', ['-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-Atqc', sql]).trim()

function waitReady(port, timeoutMs = 30000) {
  const until = Date.now() + timeoutMs
  for (;;) {
    try {
      run('pg_isready', ['-q', '-h', '127.0.0.1', '-p', port])
      return
    } catch (e) {
      if (Date.now() > until) throw new Error(`the cluster on port ${port} did not come up`, { cause: e })
      execFileSync('sleep', ['0.1'])
    }
  }
}

/** A fresh, started primary on port with role root. options: extra `name=value` settings. */
function createPrimary(name, port, options = []) {
  drop(name)
  run('pg_createcluster', [VERSION, name, '-p', port, '-o', 'shared_buffers=64MB', ...options.flatMap((o) => ['-o', o]), '--', '--auth=trust'])
  ctl(name, 'start')
  waitReady(port)
  psql(port, 'CREATE ROLE root SUPERUSER LOGIN')
  return cluster(name, port)
}

/** A fresh streaming standby of the primary on primaryPort (pg_basebackup -R), started, streaming. */
function createStandby(name, port, primaryPort) {
  drop(name)
  run('pg_createcluster', [VERSION, name, '-p', port, '-o', 'shared_buffers=64MB', '--', '--auth=trust'])
  // pg_basebackup fills the (emptied) data directory the cluster was made with.
  for (const entry of fs.readdirSync(dataDir(name))) fs.rmSync(`${dataDir(name)}/${entry}`, { recursive: true, force: true })
  run('runuser', ['-u', 'postgres', '--', 'pg_basebackup', '-h', '127.0.0.1', '-p', primaryPort, '-U', 'postgres', '-D', dataDir(name), '-R', '-X', 'stream', '-c', 'fast'])
  ctl(name, 'start')
  waitReady(port)
  const until = Date.now() + 30000
  while (psql(primaryPort, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") !== '1') {
    if (Date.now() > until) throw new Error(`the standby on port ${port} does not stream`)
    execFileSync('sleep', ['0.1'])
  }
  return cluster(name, port)
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
    /** pg_ctl promote, which waits until the server takes writes. */
    promote: () => ctl(name, 'promote'),
    drop: () => drop(name),
  }
}

module.exports = { createPrimary, createStandby }

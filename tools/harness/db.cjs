// Real databases for the specs, the drills and the bench: a fresh PostgreSQL database on the
// local server (directly, or for the package through the PgBouncer on
// PSPAS_TEST_PGBOUNCER_PORT) and a fresh SQLite file in a temporary folder; each comes with
// its own drop(). No mocks.
'use strict'
const { Client } = require('pg')
const fs = require('node:fs')
const { execFileSync } = require('node:child_process')
const os = require('node:os')
const path = require('node:path')
const crypto = require('node:crypto')

const ADMIN_URL = process.env.PSPAS_TEST_PG_URL || 'postgres://root@127.0.0.1:5432/test'

// The PolicySynth variables of a PostgreSQL set-up: a suite on SQLite clears them first.
const PG_ENV_VARS = ['PSQL_DB_NAME', 'PSQL_DB_USER', 'DB_HOST', 'DB_PORT', 'PSPAS_PGBOUNCER']

function pgUrlFor(dbName) {
  const u = new URL(ADMIN_URL)
  u.pathname = '/' + dbName
  return u.toString()
}

/** Run fn(client) on a new connection to url, closed afterwards. */
async function withClient(url, fn) {
  const client = new Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** One statement on the admin database (CREATE/DROP DATABASE, pg_terminate_backend, …). */
const adminQuery = (sql, params) => withClient(ADMIN_URL, (c) => c.query(sql, params))

/** A connected client on url, for callers that poll (end it yourself). */
async function connect(url) {
  const client = new Client({ connectionString: url })
  await client.connect()
  return client
}

/**
 * Create an empty PostgreSQL database.
 *   name         default pspas_<label>_<pid>_<random>; a given name is dropped first if it exists
 *   bouncerPort  the PgBouncer port the package's url goes through (default
 *                PSPAS_TEST_PGBOUNCER_PORT; null: direct); the harness's own queries stay direct
 *   keep         drop() leaves the database and says so on stderr
 * Returns { kind, name, url, directUrl, port, pooler, env, envCleared, query, vacuum, drop }.
 */
async function freshPostgres(label = 'suite', { name, bouncerPort = process.env.PSPAS_TEST_PGBOUNCER_PORT, keep = false } = {}) {
  if (name) await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  else name = `pspas_${label}_${process.pid}_${crypto.randomBytes(4).toString('hex')}`.toLowerCase()
  await adminQuery(`CREATE DATABASE "${name}"`)
  const url = pgUrlFor(name)
  let packageUrl = url
  if (bouncerPort) {
    const u = new URL(url)
    u.port = bouncerPort
    u.search = '?pgbouncer=true'
    packageUrl = u.toString()
  }
  const port = bouncerPort || new URL(url).port || '5432'
  const query = (sql, params) => withClient(url, (c) => c.query(sql, params))
  return {
    kind: 'postgres',
    url: packageUrl,
    directUrl: url,
    port,
    pooler: Boolean(bouncerPort),
    name,
    // A PolicySynth suite's variables for this database (the suite assigns them on its process.env).
    env: { PSQL_DB_NAME: name, PSQL_DB_USER: 'root', DB_HOST: '127.0.0.1', DB_PORT: port, ...(bouncerPort ? { PSPAS_PGBOUNCER: 'true' } : {}) },
    envCleared: [],
    query,
    // ANALYZE too, as a server's autovacuum does: with plain VACUUM only, PostgreSQL 15's
    // row estimate decays run after run and the lookup flips to the ai_model_id index
    // (benches/analysis/FINDINGS.md: the cause of the earlier 970-2,220 calls/s swing).
    vacuum: () => query('VACUUM ANALYZE ps_private_access_store'),
    drop: async () => {
      if (keep) return process.stderr.write(`kept database ${name}\n`)
      await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    },
  }
}

/**
 * A fresh SQLite file path (the file itself is created by the package) in a new temporary
 * folder pspas-<label>-XXXXXX. Options: fileName (default store.sqlite), keep (as above).
 * Returns { kind, url, file, env, envCleared, query, drop }; query(sql, params) runs one
 * statement on the file with Python's sqlite3 (an operator's hand edit; `?` placeholders) and
 * resolves to { rows }.
 */
async function freshSqlite(label = 'suite', { fileName = 'store.sqlite', keep = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pspas-${label}-`))
  const file = path.join(dir, fileName)
  return {
    kind: 'sqlite',
    url: `sqlite:${file}`,
    file,
    env: { PSPAS_SQLITE_PATH: file },
    envCleared: PG_ENV_VARS,
    query: async (sql, params = []) => {
      const script =
        'import json, sqlite3, sys\n' +
        'c = sqlite3.connect(sys.argv[1])\n' +
        'rows = c.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall()\n' +
        'c.commit()\n' +
        'print(json.dumps(rows))'
      const out = execFileSync('python3', ['-c', script, file, sql, JSON.stringify(params)], { encoding: 'utf8' })
      return { rows: JSON.parse(out) }
    },
    drop: async () => {
      if (keep) return process.stderr.write(`kept SQLite file ${file}\n`)
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Both backends, for describe.each. */
const BACKENDS = [
  ['postgres', freshPostgres],
  ['sqlite', freshSqlite],
]

module.exports = { ADMIN_URL, PG_ENV_VARS, pgUrlFor, withClient, adminQuery, connect, freshPostgres, freshSqlite, BACKENDS }

// Real databases for the specs: a fresh PostgreSQL database per suite on the local server,
// and a fresh SQLite file per suite in a temporary folder. No mocks.
'use strict'
const { Client } = require('pg')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const crypto = require('node:crypto')

const ADMIN_URL = process.env.PSPAS_TEST_PG_URL || 'postgres://root@127.0.0.1:5432/test'

function pgUrlFor(dbName) {
  const u = new URL(ADMIN_URL)
  u.pathname = '/' + dbName
  return u.toString()
}

async function withClient(url, fn) {
  const client = new Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

// With PSPAS_TEST_PGBOUNCER_PORT set, the package reaches each fresh database through the
// PgBouncer (transaction mode) on that port; the helpers' own queries stay direct.
const BOUNCER_PORT = process.env.PSPAS_TEST_PGBOUNCER_PORT

/** Create an empty PostgreSQL database; returns { url, name, port, pooler, drop() }. */
async function freshPostgres(label = 'suite') {
  const name = `pspas_${label}_${process.pid}_${crypto.randomBytes(4).toString('hex')}`.toLowerCase()
  await withClient(ADMIN_URL, (c) => c.query(`CREATE DATABASE "${name}"`))
  const url = pgUrlFor(name)
  let packageUrl = url
  if (BOUNCER_PORT) {
    const u = new URL(url)
    u.port = BOUNCER_PORT
    u.search = '?pgbouncer=true'
    packageUrl = u.toString()
  }
  return {
    kind: 'postgres',
    url: packageUrl,
    directUrl: url,
    port: BOUNCER_PORT || new URL(url).port || '5432',
    pooler: Boolean(BOUNCER_PORT),
    name,
    query: (sql, params) => withClient(url, (c) => c.query(sql, params)),
    drop: () => withClient(ADMIN_URL, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)),
  }
}

/** Create a fresh SQLite file path; returns { url, file, drop() }. */
async function freshSqlite(label = 'suite') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pspas-${label}-`))
  const file = path.join(dir, 'store.sqlite')
  return {
    kind: 'sqlite',
    url: `sqlite:${file}`,
    file,
    drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
  }
}

/** Both backends, for describe.each. */
const BACKENDS = [
  ['postgres', freshPostgres],
  ['sqlite', freshSqlite],
]

module.exports = { ADMIN_URL, freshPostgres, freshSqlite, BACKENDS, withClient }

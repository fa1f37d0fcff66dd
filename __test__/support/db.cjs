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

/** Create an empty PostgreSQL database; returns { url, name, drop() }. */
async function freshPostgres(label = 'suite') {
  const name = `pspas_${label}_${process.pid}_${crypto.randomBytes(4).toString('hex')}`.toLowerCase()
  await withClient(ADMIN_URL, (c) => c.query(`CREATE DATABASE "${name}"`))
  const url = pgUrlFor(name)
  return {
    kind: 'postgres',
    url,
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

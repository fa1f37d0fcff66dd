// The rotation drill's databases: a fresh one per scenario (PostgreSQL: pspas_drill_<pid>_<scenario>,
// direct; SQLite: a temporary file), N keys sealed under the OLD key pair, and every row read
// back directly (not through the library): PostgreSQL through one client, SQLite through the
// sqlite3 command-line shell.
import { createRequire } from 'node:module'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import { ROOT, GROUP_BASE, plaintextOf, modelOf } from './common.mjs'
import { BUDGETS, KEEP } from './options.mjs'
import { OLD, SEED } from './deployment.mjs'

const require = createRequire(import.meta.url)
const { freshPostgres, freshSqlite, connect, storeSealedKeys, original } = require('../../harness/index.cjs')
const { PsPrivateAccessStore: S } = require(ROOT)
const execFileP = promisify(execFile)

/** A fresh database for one scenario: { backend, name, url, file | client, drop() } (--keep: not dropped). */
export async function createDb(backend, scenario) {
  if (backend === 'pg') {
    const db = await freshPostgres('drill', { name: `pspas_drill_${process.pid}_${scenario}`, bouncerPort: null, keep: KEEP })
    const client = await connect(db.url)
    const drop = async () => {
      await client.end().catch(() => {})
      await db.drop()
    }
    return { ...db, backend, client, drop }
  }
  const db = await freshSqlite(`rotation-drill-${scenario}`, { keep: KEEP })
  return { ...db, backend, name: db.file }
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
export async function readRows(db) {
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
export async function aesOf(db, id) {
  if (db.backend === 'pg') {
    const r = await db.client.query('SELECT encrypted_aes_key FROM ps_private_access_store WHERE id = $1', [id])
    return r.rows[0]?.encrypted_aes_key
  }
  const r = await sqliteQuery(db.file, `SELECT encrypted_aes_key FROM ps_private_access_store WHERE id = ${Number(id)}`)
  return r[0]?.encrypted_aes_key
}

export async function integrity(db) {
  if (db.backend !== 'sqlite') return null
  const r = await sqliteQuery(db.file, 'PRAGMA integrity_check')
  return r.map((x) => Object.values(x)[0]).join('; ')
}

export const digest = (rows, col) => {
  const h = createHash('sha256')
  for (const r of rows) h.update(`${r.id}\u0000${r[col]}\u0001`)
  return h.digest('hex')
}


/** N keys, one per group, sealed under the OLD public key (the library's encryptApiKey). */
export function seed(db, n) {
  const configuration = BUDGETS
    ? { maxBudget: { perDay: 1e12, petMonth: 1e12, total: 1e12 }, emailNotificationBudgetThresholds: { daily: 0.99, monthly: 0.99 } }
    : {}
  const rows = Array.from({ length: n }, (_, i) => {
    const groupId = GROUP_BASE + i
    return { groupId, aiModelId: modelOf(groupId), plaintext: plaintextOf(SEED, groupId), configuration }
  })
  return storeSealedKeys(S, { databaseUrl: db.url, keys: OLD, rows, migrate: true, concurrency: db.backend === 'pg' ? 16 : 4 })
}

/** Which rows the OLD private key alone opens (node:crypto, RSA-OAEP SHA-256 as the store). */
export function oldKeyOpens(rows) {
  let opens = 0
  for (const r of rows) {
    try {
      original.unwrapAesKey(r.aes, OLD.privateKey)
      opens++
    } catch {}
  }
  return opens
}

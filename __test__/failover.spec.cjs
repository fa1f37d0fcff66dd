// Several PostgreSQL servers in one URL, as libpq reads them: the hosts are tried in order
// and the first writable one is used; a server that is read-only (from the start, or demoted
// while the pool holds connections to it) is passed over, its statements never reported as
// outcome-unknown; a URL that cannot be read is refused naming the part that is wrong, never
// the password. The read-only server is a second local cluster of its own
// (scripts/spare-cluster.sh, 127.0.0.1:5434), demoted with default_transaction_read_only and
// a configuration reload, as an operator demotes a primary. The failover of a primary to its
// streaming standby is the drill's (npm run failover-drill).
'use strict'
const { coded } = require('./support/errors.cjs')
const { PsPrivateAccessStore: S } = require('..')
const { freshPostgres, generateKeys, withClient } = require('../tools/harness/index.cjs')

const SPARE_PORT = process.env.PSPAS_TEST_SPARE_PORT || '5434'
const spareUrl = (dbName) => `postgres://root@127.0.0.1:${SPARE_PORT}/${dbName}`

/** Make every session of the spare server read-only (on) or writable again (off), now. */
async function demoteSpare(on) {
  await withClient(spareUrl('test'), async (c) => {
    await c.query('SET default_transaction_read_only = off')
    await c.query(on ? 'ALTER SYSTEM SET default_transaction_read_only = on' : 'ALTER SYSTEM RESET default_transaction_read_only')
    await c.query('SELECT pg_reload_conf()')
  })
}

/** The usage of group's key on one server, or null when it has no such row (or no table). */
async function usageOn(url, groupId) {
  return withClient(url, async (c) => {
    const { rows: t } = await c.query("SELECT to_regclass('ps_private_access_store') IS NOT NULL AS present")
    if (!t[0].present) return null
    const { rows } = await c.query('SELECT usage FROM ps_private_access_store WHERE group_id = $1', [groupId])
    return rows.length === 0 ? null : rows[0].usage
  })
}

/** Sessions of one application_name on the spare server's database. */
async function spareSessions(dbName, app) {
  return withClient(spareUrl('test'), async (c) => {
    const { rows } = await c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2', [dbName, app])
    return rows[0].n
  })
}

const keys = generateKeys()

/** The database's URL with `hosts` (host:port, comma-separated) in place of its own. */
function withHosts(url, hosts) {
  const u = new URL(url)
  return `postgres://${u.username}@${hosts}${u.pathname}${u.search}`
}

describe('a multi-host DATABASE_URL', () => {
  let db
  beforeAll(async () => {
    db = await freshPostgres('failover', { bouncerPort: null })
    process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = keys.publicKey
    process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
  })
  afterAll(async () => {
    await S.close()
    delete process.env.DATABASE_URL
    await demoteSpare(false)
    await withClient(spareUrl('test'), (c) => c.query(`DROP DATABASE IF EXISTS "${db.name}" WITH (FORCE)`))
    await db.drop()
  })

  describe('incrementUsageAndGetApiKey', () => {
    test('the first host down: the call reaches the next one, which is writable', async () => {
      const own = new URL(db.url)
      // Port 1 on loopback: nothing listens there, the connection is refused at once.
      process.env.DATABASE_URL = withHosts(db.url, `127.0.0.1:1,${own.hostname}:${own.port || 5432}`)
      const sealed = S.encryptApiKey('sk-multi-host')
      const key = await S.addPreEncryptedKey(7, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, {})
      expect(key).toBeInstanceOf(S)
      expect(await S.incrementUsageAndGetApiKey(7, { aiModelId: 3, incrementAmount: 2 })).toBe('sk-multi-host')
      const { rows } = await db.query('SELECT usage FROM ps_private_access_store WHERE id = $1', [key.id])
      expect(rows[0].usage).toMatchObject({ dailyUse: 2, totalUse: 2 })
    })

    test('the first host read-only: the call reaches the writable one; nothing is written to the read-only one', async () => {
      // The same database name on the spare server, which is read-only from the start.
      await withClient(spareUrl('test'), (c) => c.query(`CREATE DATABASE "${db.name}"`))
      await demoteSpare(true)
      const own = new URL(db.url)
      process.env.DATABASE_URL = `postgres://root@127.0.0.1:${SPARE_PORT},${own.hostname}:${own.port || 5432}/${db.name}?application_name=pspas_first_ro`
      const sealed = S.encryptApiKey('sk-first-read-only')
      const key = await S.addPreEncryptedKey(8, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, {})
      expect(key).toBeInstanceOf(S)
      expect(await S.incrementUsageAndGetApiKey(8, { incrementAmount: 3 })).toBe('sk-first-read-only')
      expect(await usageOn(db.directUrl, 8)).toMatchObject({ dailyUse: 3, totalUse: 3 })
      expect(await usageOn(spareUrl(db.name), 8)).toBeNull()
      // The read-only server was passed over when the pool was placed: no statement refused.
      expect(S.getDiagnostics()).toMatchObject({ serverMoves: 1, readOnlyRefusals: 0 })
      expect(await spareSessions(db.name, 'pspas_first_ro')).toBe(0)
    })

    test('target_session_attrs=any on a read-only server: the refused write is PSPAS_DB_UNAVAILABLE, never an unknown outcome, and nothing is written', async () => {
      // Still read-only from the test before.
      process.env.DATABASE_URL = `${spareUrl(db.name)}?target_session_attrs=any&application_name=pspas_any_ro`
      const sealed = S.encryptApiKey('sk-any')
      const err = await S.addPreEncryptedKey(8, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, {}).catch((e) => e)
      expect(err).toEqual(coded('PSPAS_DB_UNAVAILABLE', /the server refuses writes \(.*read-only transaction/))
      // Refused while the table was being created: no table, no row.
      expect(await usageOn(spareUrl(db.name), 8)).toBeNull()
      await S.close()
    })

    test('a server demoted while the pool holds connections to it: the calls go on on the writable one and those connections are replaced', async () => {
      await demoteSpare(false)
      const own = new URL(db.url)
      const mainHost = `${own.hostname}:${own.port || 5432}`
      const sealed = S.encryptApiKey('sk-demoted')
      // The same key in group 9 on both servers, each added through its own URL.
      for (const url of [db.url, spareUrl(db.name)]) {
        process.env.DATABASE_URL = url
        expect(await S.addPreEncryptedKey(9, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, {})).toBeInstanceOf(S)
        await S.close()
      }
      process.env.DATABASE_URL = `postgres://root@127.0.0.1:${SPARE_PORT},${mainHost}/${db.name}?application_name=pspas_demoted`
      const burst = () => Promise.all(Array.from({ length: 16 }, () => S.incrementUsageAndGetApiKey(9)))
      expect(await burst()).toEqual(Array(16).fill('sk-demoted'))
      expect(await usageOn(spareUrl(db.name), 9)).toMatchObject({ totalUse: 16 })
      expect(await spareSessions(db.name, 'pspas_demoted')).toBeGreaterThan(0)

      await demoteSpare(true)
      expect(await burst()).toEqual(Array(16).fill('sk-demoted'))
      expect(await burst()).toEqual(Array(16).fill('sk-demoted'))
      // Every call after the demotion counted on the writable server, none on the demoted one.
      expect(await usageOn(db.directUrl, 9)).toMatchObject({ totalUse: 32 })
      expect(await usageOn(spareUrl(db.name), 9)).toMatchObject({ totalUse: 16 })
      const diagnostics = S.getDiagnostics()
      expect(diagnostics.serverMoves).toBe(1)
      expect(diagnostics.readOnlyRefusals).toBeGreaterThan(0)
      // The pool's connections to the demoted server were closed, not kept.
      expect(await spareSessions(db.name, 'pspas_demoted')).toBe(0)
    })

    test('no listed host reachable: PSPAS_DB_UNAVAILABLE naming each host, never the password', async () => {
      process.env.DATABASE_URL = 'postgres://app:hunter2@127.0.0.1:1,127.0.0.1:2/nowhere?target_session_attrs=read-write'
      const err = await S.incrementUsageAndGetApiKey(7).catch((e) => e)
      expect(err).toEqual(coded('PSPAS_DB_UNAVAILABLE', /no listed server has target_session_attrs=read-write \(127\.0\.0\.1:1: .*; 127\.0\.0\.1:2: .*\)/))
      expect(err.message).not.toContain('hunter2')
    })
  })

  describe('configure', () => {
    test.each([
      ['postgres://app:hunter2@db1:5432,db2:54x2/x', 'databaseUrl: host 2 of 2 ("db2:54x2"): the port is not a number from 1 to 65535'],
      ['postgres://app:hunter2@db1,,db3/x', 'databaseUrl: host 2 of 3 ("") is empty'],
      [
        'postgres://app:hunter2@db1/x?target_session_attrs=writable',
        'databaseUrl: target_session_attrs must be one of any, read-write, read-only, primary, standby, prefer-standby',
      ],
    ])('%s is refused naming the wrong part', (url, message) => {
      let err
      try {
        S.configure({ databaseUrl: url })
      } catch (e) {
        err = e
      }
      expect(err).toEqual(coded('PSPAS_CONFIG', message))
      expect(err.message).not.toContain('hunter2')
      S.configure(null)
    })
  })
})

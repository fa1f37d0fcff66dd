// Several PostgreSQL servers in one URL, as libpq reads them (issue 21, first part): the
// hosts are tried in order and the first writable one is used; a URL that cannot be read
// is refused naming the part that is wrong, never the password. (Read-only and demoted
// servers, and the failover drill, need a second cluster: tools/failover-drill, to come.)
'use strict'
const { coded } = require('./support/errors.cjs')
const { PsPrivateAccessStore: S } = require('..')
const { freshPostgres, generateKeys } = require('../tools/harness/index.cjs')

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

// Tenant isolation and bounded inputs (issue 19), on both backends and through PgBouncer in
// transaction mode (see scripts/test.sh): a sealed pair copied from group B into group A is
// refused (PSPAS_DUPLICATE_KEY) and never serves B's key to A; every input bound is refused
// with PSPAS_TOO_LARGE before any work, nothing written.
'use strict'
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { coded } = require('./support/errors.cjs')
const { PsPrivateAccessStore: S } = require('..')
const { BACKENDS, generateKeys } = require('../tools/harness/index.cjs')

const keys = generateKeys()
const BIN = path.join(__dirname, '..', 'bin', 'ps-access-store.mjs')
const DUPLICATE = coded(
  'PSPAS_DUPLICATE_KEY',
  'this encrypted API key or its encrypted AES key is already stored (a sealed key can be stored once, in one group: seal the API key again for another group); nothing was written',
)
const tooLarge = (message) => coded('PSPAS_TOO_LARGE', message)
const invalid = (message) => coded('PSPAS_INVALID_ARGUMENT', message)

describe.each(BACKENDS)('isolation and bounds on %s', (_name, fresh) => {
  let db
  const rows = async () => {
    const { rows: r } = await db.query('SELECT id, group_id, encrypted_api_key FROM ps_private_access_store ORDER BY id')
    return r.map((x) => (Array.isArray(x) ? x : Object.values(x)))
  }

  beforeAll(async () => {
    db = await fresh('isolation')
    process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = keys.publicKey
    process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
    for (const v of db.envCleared) delete process.env[v]
    Object.assign(process.env, db.env)
    await S.migrate()
  })
  afterAll(async () => {
    await S.close()
    await db.drop()
  })

  describe('addPreEncryptedKey', () => {
    test("B's sealed pair added to group A is refused and nothing is written: A never gets B's key, B is still served", async () => {
      const b = S.encryptApiKey('sk-tenant-b')
      const stored = await S.addPreEncryptedKey(802, 1, 3, undefined, b.encryptedApiKey, b.encryptedAesKey, {})
      expect(stored).toBeInstanceOf(S)
      const before = await rows()
      await expect(S.addPreEncryptedKey(801, 9, 3, undefined, b.encryptedApiKey, b.encryptedAesKey, {})).rejects.toEqual(DUPLICATE)
      // The same copy in other spellings of its hex, into the same group, or with only one of
      // the two ciphertexts reused: refused alike.
      const upper = b.encryptedApiKey.toUpperCase()
      await expect(S.addPreEncryptedKey(801, 9, 3, undefined, upper, b.encryptedAesKey, {})).rejects.toEqual(DUPLICATE)
      await expect(S.addPreEncryptedKey(802, 1, 3, undefined, b.encryptedApiKey, b.encryptedAesKey, {})).rejects.toEqual(DUPLICATE)
      const other = S.encryptApiKey('sk-other')
      await expect(S.addPreEncryptedKey(801, 9, 3, undefined, other.encryptedApiKey, b.encryptedAesKey, {})).rejects.toEqual(DUPLICATE)
      await expect(S.addPreEncryptedKey(801, 9, 3, undefined, b.encryptedApiKey, other.encryptedAesKey, {})).rejects.toEqual(DUPLICATE)
      expect(await rows()).toEqual(before)
      expect(await S.getApiKeys(801)).toEqual([])
      expect(await S.incrementUsageAndGetApiKey(801, { aiModelId: 3 })).toBeNull()
      expect(await S.incrementUsageAndGetApiKey(802, { aiModelId: 3 })).toBe('sk-tenant-b')
      // A's own key, sealed for A, is stored and served.
      const a = S.encryptApiKey('sk-tenant-a')
      await S.addPreEncryptedKey(801, 9, 3, undefined, a.encryptedApiKey, a.encryptedAesKey, {})
      expect(await S.incrementUsageAndGetApiKey(801, { aiModelId: 3 })).toBe('sk-tenant-a')
    })

    test('copies sent at once from several callers: exactly one is stored', async () => {
      const c = S.encryptApiKey('sk-race')
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => S.addPreEncryptedKey(810 + i, 1, 3, undefined, c.encryptedApiKey, c.encryptedAesKey, {})),
      )
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      for (const r of results.filter((x) => x.status === 'rejected')) expect(r.reason).toEqual(DUPLICATE)
      expect((await rows()).filter((r) => r[2] === c.encryptedApiKey)).toHaveLength(1)
    })

    test('copies stored before (or written to the table directly) are reported by verifyKeys and `ps-access-store verify`, junk pairs are not', async () => {
      const d = S.encryptApiKey('sk-copied')
      const original = await S.addPreEncryptedKey(840, 1, 3, undefined, d.encryptedApiKey, d.encryptedAesKey, {})
      let n = 0
      const sql =
        'INSERT INTO ps_private_access_store (group_id, user_id, ai_model_id, configuration, usage, encrypted_api_key, encrypted_aes_key, is_active) ' +
        "VALUES (?, 1, 3, '{}', '{\"dailyUse\":0,\"monthlyUse\":0,\"totalUse\":0}', ?, ?, true)"
      await db.query(db.kind === 'postgres' ? sql.replace(/\?/g, () => `$${++n}`) : sql, [841, d.encryptedApiKey.toUpperCase(), d.encryptedAesKey])
      const [copy] = await S.getApiKeys(841)
      const v = await S.verifyKeys()
      expect(v.duplicates).toEqual([[original.id, copy.id]])
      const cli = spawnSync(process.execPath, [BIN, 'verify', '--json'], { env: { ...process.env, DATABASE_URL: db.url }, encoding: 'utf8' })
      expect(cli.status).toBe(1)
      expect(JSON.parse(cli.stdout).duplicates).toEqual([[original.id, copy.id]])
      expect(JSON.parse(cli.stderr).error).toEqual({ code: 'PSPAS_DUPLICATE_KEY', message: `1 sealed key stored in more than one row: ${original.id}+${copy.id}` })
      // Junk pairs that can never be opened repeat harmlessly: not reported.
      await S.addPreEncryptedKey(842, 1, 3, undefined, 'aa:bb:cc', 'AQIDBA==', {})
      await S.addPreEncryptedKey(843, 1, 3, undefined, 'aa:bb:cc', 'AQIDBA==', {})
      expect((await S.verifyKeys()).duplicates).toEqual([[original.id, copy.id]])
      // Mended (the copy deleted): nothing reported.
      await db.query(db.kind === 'postgres' ? 'DELETE FROM ps_private_access_store WHERE id = $1' : 'DELETE FROM ps_private_access_store WHERE id = ?', [copy.id])
      expect((await S.verifyKeys()).duplicates).toEqual([])
    })

    test("pairs that can never be opened, which the original accepts (PolicySynth's own \"aa:bb:cc\" / \"AQIDBA==\"), may repeat", async () => {
      const first = await S.addPreEncryptedKey(820, 1, 3, undefined, 'aa:bb:cc', 'AQIDBA==', {})
      const second = await S.addPreEncryptedKey(821, 1, 3, undefined, 'aa:bb:cc', 'AQIDBA==', {})
      expect(second.id).toBeGreaterThan(first.id)
    })
  })

  describe('bounds', () => {
    test('encryptApiKey: at most 8192 bytes of API key', () => {
      expect(S.decryptApiKey(...Object.values(S.encryptApiKey('k'.repeat(8192))))).toBe('k'.repeat(8192))
      expect(() => S.encryptApiKey('k'.repeat(8193))).toThrow(tooLarge('apiKey is too large: at most 8192 bytes'))
      expect(() => S.encryptApiKey('é'.repeat(4097))).toThrow(tooLarge('apiKey is too large: at most 8192 bytes'))
      expect(() => S.encryptApiKey('k'.repeat(50 * 1024 * 1024))).toThrow(tooLarge('apiKey is too large: at most 8192 bytes'))
    })

    test('decryptApiKey: at most 16450 characters of encryptedApiKey and 2732 of encryptedAesKey', () => {
      const sealed = S.encryptApiKey('sk-bound')
      expect(() => S.decryptApiKey('a'.repeat(16451), sealed.encryptedAesKey)).toThrow(tooLarge('encryptedApiKey is too large: at most 16450 characters'))
      expect(() => S.decryptApiKey(sealed.encryptedApiKey, 'A'.repeat(2736))).toThrow(tooLarge('encryptedAesKey is too large: at most 2732 characters'))
    })

    test('addPreEncryptedKey: oversized ciphertexts and configuration are refused, nothing written', async () => {
      const sealed = S.encryptApiKey('sk-bound')
      const before = await rows()
      const huge = `${'00'.repeat(16)}:${'11'.repeat(16)}:${'ab'.repeat(9000)}`
      await expect(S.addPreEncryptedKey(830, 1, 3, undefined, huge, sealed.encryptedAesKey, {})).rejects.toEqual(
        tooLarge('encryptedApiKey is too large: at most 16450 characters'),
      )
      await expect(S.addPreEncryptedKey(830, 1, 3, undefined, sealed.encryptedApiKey, 'AAAA'.repeat(700), {})).rejects.toEqual(
        tooLarge('encryptedAesKey is too large: at most 2732 characters'),
      )
      await expect(S.addPreEncryptedKey(830, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, { note: 'x'.repeat(65536) })).rejects.toEqual(
        tooLarge('configuration is too large: at most 65536 bytes of JSON'),
      )
      expect(await rows()).toEqual(before)
      const stored = await S.addPreEncryptedKey(830, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, { note: 'x'.repeat(60000) })
      await expect(S.setConfiguration(stored.id, { note: 'y'.repeat(70000) })).rejects.toEqual(tooLarge('configuration is too large: at most 65536 bytes of JSON'))
      expect((await S.getApiKeys(830))[0].configuration.note).toHaveLength(60000)
    })

    test('text PostgreSQL cannot store (a NUL character) and groups beyond its INTEGER column: the same answer on both backends, nothing written', async () => {
      const before = await rows()
      const nul = (name) => invalid(`${name} must not contain a NUL character (U+0000)`)
      await expect(S.incrementUsageAndGetApiKey(830, { requestId: 'a\u0000b' })).rejects.toEqual(nul('requestId'))
      await expect(S.reserveUsageAndGetApiKey(830, { estimate: 1, requestId: 'a\u0000b' })).rejects.toEqual(nul('requestId'))
      await expect(S.settleUsage('rsv_\u0000', 1)).rejects.toEqual(nul('reservationId'))
      await expect(S.releaseUsage('rsv_\u0000')).rejects.toEqual(nul('reservationId'))
      await expect(S.claimBudgetEvents({ consumer: 'mailer\u0000' })).rejects.toEqual(nul('consumer'))
      const sealed = S.encryptApiKey('sk-nul')
      await expect(S.addPreEncryptedKey(831, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, { note: 'a\u0000b' })).rejects.toEqual(
        coded('PSPAS_INVALID_CONFIGURATION', 'Invalid configuration: configuration must not contain a NUL character (U+0000) in a string'),
      )
      // A group id beyond 2^31 - 1 has no key: null, with or without a requestId, nothing recorded.
      expect(await S.incrementUsageAndGetApiKey(2 ** 31, { requestId: 'big-group' })).toBeNull()
      expect(await S.reserveUsageAndGetApiKey(2 ** 31, { estimate: 1, requestId: 'big-group' })).toBeNull()
      expect(await S.incrementUsageAndGetApiKey(2 ** 31)).toBeNull()
      expect(await rows()).toEqual(before)
      const { rows: requests } = await db.query("SELECT count(*) AS n FROM ps_private_access_requests WHERE request_id = 'big-group'")
      expect(Number(Object.values(requests[0])[0])).toBe(0)
    })

    test('a pool timeout beyond 2^31 - 1 ms is clamped, not a crashed worker', async () => {
      S.configure({ acquireTimeoutMs: 4000000000, idleTimeoutMs: 4000000000 })
      try {
        expect(await S.getApiKeys(830)).toHaveLength(1)
      } finally {
        await S.close()
        S.configure()
      }
    })
  })
})

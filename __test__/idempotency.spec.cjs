// A call counted once however often it is sent: incrementUsageAndGetApiKey with a requestId,
// on both backends (and through PgBouncer in transaction mode, see scripts/test.sh).
// Sequential and concurrent repeats (one process, and 4 processes) count once and fire no
// event; a repeat with another amount or filter is a conflict and counts nothing.
'use strict'
const path = require('node:path')
const { coded } = require('./support/errors.cjs')
const { PsPrivateAccessStore: S } = require('..')
const { BACKENDS, generateKeys, childEnv, startWorker, runTogether, original } = require('../tools/harness/index.cjs')

const keys = generateKeys()
const CHILD_ENV = childEnv(keys)
const config = (perDay = null, daily = 0.5) => ({ maxBudget: { perDay, petMonth: null, total: null }, emailNotificationBudgetThresholds: { daily } })

const hammer = (databaseUrl, groupId, ids, copies, amount, expectedKey) =>
  startWorker(path.join(__dirname, 'support/request-hammer.cjs'), [databaseUrl, groupId, ids, copies, amount, expectedKey], { env: CHILD_ENV })

describe.each(BACKENDS)('incrementUsageAndGetApiKey with requestId on %s', (_name, fresh) => {
  let db
  let seq = 0
  const group = () => 2000 + ++seq
  const add = (groupId, plaintext, configuration = config()) => {
    const sealed = S.encryptApiKey(plaintext)
    return S.addPreEncryptedKey(groupId, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, configuration)
  }
  const events = []
  let off

  // Set up as a PolicySynth suite does: the variables assigned on this file's process.env.
  beforeAll(async () => {
    db = await fresh('idempotency')
    process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = keys.publicKey
    process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
    for (const v of db.envCleared) delete process.env[v]
    Object.assign(process.env, db.env)
    off = S.onBudgetEvent((e) => events.push(e))
  })
  afterAll(async () => {
    off()
    await S.close()
    await db.drop()
  })

  test('a sequential repeat counts nothing, fires no event and returns the same key', async () => {
    const g = group()
    const k = await add(g, 'sk-once', config(10, 0.5))
    events.length = 0
    expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 6, requestId: 'call-1' })).toBe('sk-once')
    expect(events.map((e) => e.kind)).toEqual(['dailyThreshold'])
    for (let i = 0; i < 3; i++) {
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 6, requestId: 'call-1' })).toBe('sk-once')
    }
    expect(events).toHaveLength(1)
    expect(await S.getUsage(k.id)).toEqual({ dailyUse: 6, monthlyUse: 6, totalUse: 6 })
    // Another id counts (and is refused when it does not fit); the id is scoped to its group.
    expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 6, requestId: 'call-2' })).toBeNull()
    expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 4, requestId: 'call-3' })).toBe('sk-once')
    const other = group()
    const k2 = await add(other, 'sk-other-group')
    expect(await S.incrementUsageAndGetApiKey(other, { incrementAmount: 6, requestId: 'call-1' })).toBe('sk-other-group')
    expect((await S.getUsage(k.id)).totalUse).toBe(10)
    expect((await S.getUsage(k2.id)).totalUse).toBe(6)
  })

  test('a call that found no room is repeated as null, even once there is room', async () => {
    const g = group()
    const k = await add(g, 'sk-full', config(1))
    expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 5, requestId: 'too-big' })).toBeNull()
    expect(await S.setConfiguration(k.id, config(100))).toBe(true)
    expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 5, requestId: 'too-big' })).toBeNull()
    expect((await S.getUsage(k.id)).totalUse).toBe(0)
    expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 5, requestId: 'fits-now' })).toBe('sk-full')
  })

  test('concurrent repeats in one process count once', async () => {
    const g = group()
    const k = await add(g, 'sk-concurrent-once')
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) => S.incrementUsageAndGetApiKey(g, { incrementAmount: 2, requestId: `burst-${i % 3}` })),
    )
    expect(new Set(results)).toEqual(new Set(['sk-concurrent-once']))
    expect(await S.getUsage(k.id)).toEqual({ dailyUse: 6, monthlyUse: 6, totalUse: 6 })
  })

  test('4 processes sending the same 50 ids twice each count 50 calls, and each event once', async () => {
    const g = group()
    const k = await add(g, 'sk-four-processes', config(1000, 0.05))
    const results = await runTogether(4, () => hammer(db.url, g, 50, 2, 1, 'sk-four-processes'))
    expect(results.map((r) => [r.served, r.nulls, r.wrong])).toEqual([[100, 0, 0], [100, 0, 0], [100, 0, 0], [100, 0, 0]])
    expect(await S.getUsage(k.id)).toEqual({ dailyUse: 50, monthlyUse: 50, totalUse: 50 })
    expect(results.flatMap((r) => r.events).map((e) => e.kind)).toEqual(['dailyThreshold'])
  })

  test('the same id with another amount or filter rejects with PSPAS_IDEMPOTENCY_CONFLICT and counts nothing', async () => {
    const g = group()
    const k = await add(g, 'sk-conflict')
    expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 3, requestId: 'same' })).toBe('sk-conflict')
    const conflict = coded('PSPAS_IDEMPOTENCY_CONFLICT', 'requestId was already used in this group with a different incrementAmount or filter; nothing was counted')
    await expect(S.incrementUsageAndGetApiKey(g, { incrementAmount: 4, requestId: 'same' })).rejects.toThrow(conflict)
    await expect(S.incrementUsageAndGetApiKey(g, { incrementAmount: 3, aiModelId: 3, requestId: 'same' })).rejects.toThrow(conflict)
    expect(await S.getUsage(k.id)).toEqual({ dailyUse: 3, monthlyUse: 3, totalUse: 3 })
  })

  test('bad request ids reject with a coded message and count nothing', async () => {
    const g = group()
    const k = await add(g, 'sk-bad-ids')
    for (const [requestId, message] of [
      ['', coded('PSPAS_INVALID_ARGUMENT', 'requestId must be a non-empty string of at most 255 characters')],
      ['x'.repeat(256), coded('PSPAS_INVALID_ARGUMENT', 'requestId must be a non-empty string of at most 255 characters')],
      [42, coded('PSPAS_INVALID_ARGUMENT', 'requestId must be a string')],
      [null, coded('PSPAS_INVALID_ARGUMENT', 'requestId must be a string')],
    ]) {
      await expect(S.incrementUsageAndGetApiKey(g, { requestId })).rejects.toThrow(message)
    }
    expect(await S.incrementUsageAndGetApiKey(g, { requestId: 'é'.repeat(255) })).toBe('sk-bad-ids')
    expect((await S.getUsage(k.id)).totalUse).toBe(1)
  })

  test('a key that cannot be decrypted counts nothing, and a retry with the same id does not either', async () => {
    const g = group()
    const foreign = generateKeys()
    const sealed = original.encryptApiKey('sk-foreign', foreign.publicKey)
    const k = await S.addPreEncryptedKey(g, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, config())
    for (let i = 0; i < 2; i++) {
      await expect(S.incrementUsageAndGetApiKey(g, { requestId: 'undone' })).rejects.toThrow(coded('PSPAS_DECRYPT_FAILED', /./))
    }
    expect(await S.getUsage(k.id)).toEqual({ dailyUse: 0, monthlyUse: 0, totalUse: 0 })
  })
})

describe.each(BACKENDS)('the retention window (PSPAS_REQUEST_RETENTION_MS) on %s', (_name, fresh) => {
  test('after it, the same id counts again', async () => {
    const db = await fresh('retention')
    try {
      process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = keys.publicKey
      process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
      for (const v of db.envCleared) delete process.env[v]
      Object.assign(process.env, db.env, { PSPAS_REQUEST_RETENTION_MS: '300' })
      const sealed = S.encryptApiKey('sk-retained')
      const k = await S.addPreEncryptedKey(9, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, config())
      expect(await S.incrementUsageAndGetApiKey(9, { requestId: 'r' })).toBe('sk-retained')
      expect(await S.incrementUsageAndGetApiKey(9, { requestId: 'r' })).toBe('sk-retained')
      expect((await S.getUsage(k.id)).totalUse).toBe(1)
      await new Promise((r) => setTimeout(r, 400))
      expect(await S.incrementUsageAndGetApiKey(9, { requestId: 'r' })).toBe('sk-retained')
      expect((await S.getUsage(k.id)).totalUse).toBe(2)
    } finally {
      delete process.env.PSPAS_REQUEST_RETENTION_MS
      await S.close()
      await db.drop()
    }
  })

  test('a window longer than the calendar means "for ever": no error, a repeat still counts once', async () => {
    const db = await fresh('retention-max')
    try {
      process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = keys.publicKey
      process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
      for (const v of db.envCleared) delete process.env[v]
      Object.assign(process.env, db.env, { PSPAS_REQUEST_RETENTION_MS: '18446744073709551615' })
      const sealed = S.encryptApiKey('sk-for-ever')
      const k = await S.addPreEncryptedKey(9, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, config())
      for (let i = 0; i < 2; i++) expect(await S.incrementUsageAndGetApiKey(9, { requestId: 'kept' })).toBe('sk-for-ever')
      expect(await S.incrementUsageAndGetApiKey(9, { requestId: 'another' })).toBe('sk-for-ever')
      expect((await S.getUsage(k.id)).totalUse).toBe(2)
    } finally {
      delete process.env.PSPAS_REQUEST_RETENTION_MS
      await S.close()
      await db.drop()
    }
  })
})

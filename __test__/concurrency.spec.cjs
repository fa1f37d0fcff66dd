// No lost update across processes: 4 processes × 200 concurrent increments on one key end with
// exactly 800, on both backends; and once setKeyStatus(id, false) has resolved, the key is never
// served again, even while other processes are hammering it.
'use strict'
const path = require('node:path')
const { PsPrivateAccessStore: S } = require('..')
const { BACKENDS, generateKeys, childEnv, startWorker, runTogether } = require('../tools/harness/index.cjs')

const keys = generateKeys()
const CHILD_ENV = childEnv(keys)
const BIG = { maxBudget: { perDay: null, petMonth: null, total: null }, emailNotificationBudgetThresholds: { daily: 0.8, monthly: 0.9 } }

const hammer = (databaseUrl, groupId, calls, expected, rounds = 1) =>
  startWorker(path.join(__dirname, 'support/hammer.cjs'), [databaseUrl, groupId, calls, expected, rounds], { env: CHILD_ENV })

describe.each(BACKENDS)('%s', (_name, fresh) => {
  let db
  beforeAll(async () => {
    db = await fresh('concurrency')
    S.configure({ publicKey: keys.publicKey, privateKey: keys.privateKey, databaseUrl: db.url })
  })
  afterAll(async () => {
    await S.close()
    await db.drop()
  })

  describe('incrementUsageAndGetApiKey', () => {
    test('4 processes × 200 concurrent increments: totalUse is exactly 800', async () => {
      const sealed = S.encryptApiKey('sk-concurrent')
      const key = await S.addPreEncryptedKey(1, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, BIG)
      const results = await runTogether(4, () => hammer(db.url, 1, 200, 'sk-concurrent'))
      expect(results.map((r) => r.served)).toEqual([200, 200, 200, 200])
      expect(await S.getUsage(key.id)).toEqual({ dailyUse: 800, monthlyUse: 800, totalUse: 800 })
    })
  })

  describe('setKeyStatus', () => {
    test('after deactivation resolves, no process is served the key again', async () => {
      const sealed = S.encryptApiKey('sk-deactivated')
      const key = await S.addPreEncryptedKey(2, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, BIG)
      const procs = Array.from({ length: 2 }, () => hammer(db.url, 2, 20, 'sk-deactivated', 5000))
      await new Promise((r) => setTimeout(r, 1500))
      procs.forEach((p) => p.go())
      await new Promise((r) => setTimeout(r, 300))
      expect(await S.setKeyStatus(key.id, false)).toBe(true)
      const resolvedAt = Date.now()
      const results = await Promise.all(procs.map((p) => p.done))
      const served = results.reduce((n, r) => n + r.served, 0)
      expect(served).toBeGreaterThan(0) // the race really happened
      expect(results.reduce((n, r) => n + r.nulls, 0)).toBeGreaterThan(0)
      // No call that started after the deactivation resolved was served.
      for (const r of results) expect(r.lastServedStart).toBeLessThanOrEqual(resolvedAt)
      expect(await S.incrementUsageAndGetApiKey(2, { aiModelId: 3 })).toBeNull()
      expect((await S.getUsage(key.id)).totalUse).toBe(served) // every served call counted, nothing else
    })
  })
})

// Budgets that hold (both backends): exact totals under 4-process load, each event kind
// exactly once across processes, failover, null with a status that says why, listeners,
// and the count-only switch. Day/month rollover is covered by tests/budget.rs (cargo test),
// which moves the period bookkeeping into the past on both backends.
'use strict'
const { coded } = require('./support/errors.cjs')
const path = require('node:path')
const { PsPrivateAccessStore } = require('..')
const { BACKENDS, generateKeys, childEnv, startWorker, runTogether, original } = require('../tools/harness/index.cjs')

// Set-up the way a PolicySynth suite does it: variables assigned on this file's process.env
// (the child processes get them through their real environment).
const keys = generateKeys()
const CHILD_ENV = childEnv(keys)

const config = (maxBudget, thresholds = { daily: 0.8, monthly: 0.9 }) => ({ maxBudget, emailNotificationBudgetThresholds: thresholds })

async function addKey(groupId, plaintext, maxBudget, thresholds) {
  const sealed = PsPrivateAccessStore.encryptApiKey(plaintext)
  return PsPrivateAccessStore.addPreEncryptedKey(groupId, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, config(maxBudget, thresholds))
}

const hammer = (databaseUrl, groupId, calls, expectedKey) =>
  startWorker(path.join(__dirname, 'support/budget-hammer.cjs'), [databaseUrl, groupId, calls, expectedKey], { env: CHILD_ENV })

describe.each(BACKENDS)('budgets on %s', (_name, fresh) => {
  let db
  beforeAll(async () => {
    db = await fresh('budgets')
    process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = keys.publicKey
    process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
    process.env.DATABASE_URL = db.url
  })
  afterAll(async () => {
    await PsPrivateAccessStore.close()
    await db.drop()
  })

  describe('incrementUsageAndGetApiKey under 4-process load', () => {
    test('perDay = 100: exactly 100 units granted, then null; each event kind once across processes', async () => {
      const key = await addKey(100, 'sk-hammered', { perDay: 100, petMonth: 100, total: 100 }, { daily: 0.5, monthly: 0.9 })
      const results = await runTogether(4, () => hammer(db.url, 100, 50, 'sk-hammered'))

      expect(results.reduce((n, r) => n + r.granted, 0)).toBe(100)
      expect(results.reduce((n, r) => n + r.nulls, 0)).toBe(100)
      const usage = await PsPrivateAccessStore.getUsage(key.id)
      expect(usage).toEqual({ dailyUse: 100, monthlyUse: 100, totalUse: 100 })

      const events = results.flatMap((r) => r.events)
      const byKind = Object.fromEntries(['dailyThreshold', 'monthlyThreshold', 'dailyLimit', 'monthlyLimit', 'totalLimit'].map((k) => [k, events.filter((e) => e.kind === k)]))
      for (const [kind, list] of Object.entries(byKind)) {
        expect([kind, list.length]).toEqual([kind, 1])
        expect(list[0].keyId).toBe(key.id)
        expect(list[0].limit).toBe(100)
      }
      expect(byKind.dailyThreshold[0].used).toBe(50)
      expect(byKind.monthlyThreshold[0].used).toBe(90)
      expect(byKind.dailyLimit[0].used).toBe(100)
      expect(events).toHaveLength(5)
    })
  })

  describe('failover and status', () => {
    test('a refused key counts nothing and the call moves to the next key by id', async () => {
      const a = await addKey(200, 'sk-a', { perDay: 2, petMonth: null, total: null })
      const b = await addKey(200, 'sk-b', { perDay: null, petMonth: null, total: null })
      expect(await PsPrivateAccessStore.incrementUsageAndGetApiKey(200, { incrementAmount: 2 })).toBe('sk-a')
      expect(await PsPrivateAccessStore.incrementUsageAndGetApiKey(200, { incrementAmount: 1 })).toBe('sk-b')
      expect((await PsPrivateAccessStore.getUsage(a.id)).dailyUse).toBe(2)
      expect((await PsPrivateAccessStore.getUsage(b.id)).dailyUse).toBe(1)
      // A smaller amount that fits still goes to the first key.
      await PsPrivateAccessStore.setKeyStatus(b.id, false)
      expect(await PsPrivateAccessStore.incrementUsageAndGetApiKey(200, { incrementAmount: 0 })).toBe('sk-a')
    })

    test('a refusal\'s event is delivered even when the key then chosen cannot be decrypted', async () => {
      const g = 310
      const refusing = await addKey(g, 'sk-refusing', { perDay: 1, petMonth: null, total: null })
      const foreign = generateKeys()
      const sealed = original.encryptApiKey('sk-foreign', foreign.publicKey)
      const broken = await PsPrivateAccessStore.addPreEncryptedKey(g, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, config({}, {}))
      const seen = []
      const off = PsPrivateAccessStore.onBudgetEvent((e) => seen.push(e))
      try {
        await expect(PsPrivateAccessStore.incrementUsageAndGetApiKey(g, { incrementAmount: 2 })).rejects.toThrow(
          coded('PSPAS_DECRYPT_FAILED', 'Failed to decrypt API key: wrong RSA private key or tampered ciphertext'),
        )
        expect(seen).toEqual([expect.objectContaining({ keyId: refusing.id, kind: 'dailyLimit', used: 0, limit: 1 })])
        // Neither key counted; the refusal's mark is kept, so the event does not fire twice.
        expect(await PsPrivateAccessStore.getUsage(broken.id)).toEqual({ dailyUse: 0, monthlyUse: 0, totalUse: 0 })
        expect(await PsPrivateAccessStore.getUsage(refusing.id)).toEqual({ dailyUse: 0, monthlyUse: 0, totalUse: 0 })
        await expect(PsPrivateAccessStore.incrementUsageAndGetApiKey(g, { incrementAmount: 2 })).rejects.toThrow(coded('PSPAS_DECRYPT_FAILED', /./))
        expect(seen).toHaveLength(1)
      } finally {
        off()
      }
    })

    test('null when no key has room, and getBudgetStatus says why', async () => {
      const k = await addKey(300, 'sk-small', { perDay: 5, petMonth: 50, total: null })
      expect(await PsPrivateAccessStore.incrementUsageAndGetApiKey(300, { incrementAmount: 5 })).toBe('sk-small')
      expect(await PsPrivateAccessStore.incrementUsageAndGetApiKey(300, { incrementAmount: 1 })).toBeNull()
      const s = await PsPrivateAccessStore.getBudgetStatus(k.id)
      expect(s).toMatchObject({
        id: k.id,
        isActive: true,
        enforced: true,
        daily: { used: 5, limit: 5, remaining: 0 },
        monthly: { used: 5, limit: 50, remaining: 45 },
        total: { used: 5, limit: null, remaining: null, periodStart: null },
      })
      expect(s.daily.periodStart).toBeInstanceOf(Date)
      const dayStart = new Date()
      dayStart.setUTCHours(0, 0, 0, 0)
      expect(s.daily.periodStart.getTime()).toBe(dayStart.getTime())
      // "No key" looks different: inactive.
      await PsPrivateAccessStore.setKeyStatus(k.id, false)
      expect((await PsPrivateAccessStore.getBudgetStatus(k.id)).isActive).toBe(false)
      expect(await PsPrivateAccessStore.getBudgetStatus(987654)).toBeNull()
      await expect(PsPrivateAccessStore.getBudgetStatus(-1)).rejects.toThrow(coded('PSPAS_INVALID_ARGUMENT', 'id must be a non-negative safe integer'))
    })
  })

  describe('onBudgetEvent', () => {
    test('delivers events to listeners until unsubscribed; a throwing listener is reported, not fatal', async () => {
      const warning = jest.spyOn(process, 'emitWarning').mockImplementation(() => {})
      const k = await addKey(400, 'sk-events', { perDay: 10, petMonth: null, total: null }, { daily: 0.5, monthly: null })
      const seen = []
      const unsubscribe = PsPrivateAccessStore.onBudgetEvent((e) => seen.push(e))
      const unsubscribeThrower = PsPrivateAccessStore.onBudgetEvent(() => {
        throw new Error('listener bug')
      })
      expect(await PsPrivateAccessStore.incrementUsageAndGetApiKey(400, { incrementAmount: 6 })).toBe('sk-events')
      expect(seen).toHaveLength(1)
      expect(warning).toHaveBeenCalledTimes(1)
      expect(warning.mock.calls[0][0]).toBe('A budget event listener threw: listener bug')
      expect(warning.mock.calls[0][1]).toMatchObject({ code: 'PSPAS_LISTENER_ERROR' })
      warning.mockRestore()
      expect(seen[0]).toMatchObject({ keyId: k.id, groupId: 400, aiModelId: 3, externalApiId: null, kind: 'dailyThreshold', used: 6, limit: 10 })
      expect(seen[0].periodStart).toBeInstanceOf(Date)
      unsubscribe()
      unsubscribeThrower()
      expect(await PsPrivateAccessStore.incrementUsageAndGetApiKey(400, { incrementAmount: 6 })).toBeNull()
      expect(seen).toHaveLength(1)
      expect(() => PsPrivateAccessStore.onBudgetEvent('nope')).toThrow(coded('PSPAS_INVALID_ARGUMENT', 'listener must be a function'))
    })
  })

  describe('emailNotificationBudgetThresholds', () => {
    // PolicySynth documents both forms: fractions of the limit (the seed's Example) and absolute
    // amounts (its published model docs). At most 1 is a fraction, above 1 an amount.
    test.each([
      ['fractions', { daily: 0.8, monthly: 0.9 }, 710],
      ['absolute amounts', { daily: 8, monthly: 9 }, 720],
    ])('%s fire exactly once, when the counter reaches 8 of 10 (daily) and 9 of 10 (monthly)', async (_form, thresholds, group) => {
      const k = await addKey(group, `sk-${group}`, { perDay: 10, petMonth: 10, total: null }, thresholds)
      const seen = []
      const off = PsPrivateAccessStore.onBudgetEvent((e) => e.keyId === k.id && seen.push([e.kind, e.used]))
      try {
        for (let i = 0; i < 7; i++) await PsPrivateAccessStore.incrementUsageAndGetApiKey(group)
        expect(seen).toEqual([])
        await PsPrivateAccessStore.incrementUsageAndGetApiKey(group)
        expect(seen).toEqual([['dailyThreshold', 8]])
        await PsPrivateAccessStore.incrementUsageAndGetApiKey(group)
        await PsPrivateAccessStore.incrementUsageAndGetApiKey(group)
        expect(await PsPrivateAccessStore.incrementUsageAndGetApiKey(group)).toBeNull()
        expect(seen).toEqual([['dailyThreshold', 8], ['monthlyThreshold', 9], ['dailyLimit', 10], ['monthlyLimit', 10]])
      } finally {
        off()
      }
    })
  })

  describe('configure', () => {
    test('enforceBudgets: false keeps the original count-only behaviour', async () => {
      const k = await addKey(500, 'sk-loose', { perDay: 1, petMonth: 1, total: 1 })
      PsPrivateAccessStore.configure({ enforceBudgets: false })
      try {
        expect(await PsPrivateAccessStore.incrementUsageAndGetApiKey(500, { incrementAmount: 5 })).toBe('sk-loose')
        expect(await PsPrivateAccessStore.incrementUsageAndGetApiKey(500, { incrementAmount: 5 })).toBe('sk-loose')
        expect(await PsPrivateAccessStore.getUsage(k.id)).toEqual({ dailyUse: 10, monthlyUse: 10, totalUse: 10 })
        expect((await PsPrivateAccessStore.getBudgetStatus(k.id)).enforced).toBe(false)
      } finally {
        PsPrivateAccessStore.configure()
      }
      expect(await PsPrivateAccessStore.incrementUsageAndGetApiKey(500)).toBeNull()
    })

    test('a bad timezone or switch is a coded error', () => {
      expect(() => PsPrivateAccessStore.configure({ databaseUrl: db.url, timezone: 'Mars/Olympus' })).toThrow(coded('PSPAS_CONFIG', /^timezone must be an IANA name/))
      expect(() => PsPrivateAccessStore.configure({ databaseUrl: db.url, enforceBudgets: 'yes' })).toThrow(coded('PSPAS_CONFIG', 'enforceBudgets must be a boolean'))
      PsPrivateAccessStore.configure()
    })

    test('malformed limits are rejected when the key is added, nothing written', async () => {
      const sealed = PsPrivateAccessStore.encryptApiKey('sk-x')
      for (const maxBudget of [{ perDay: -1 }, { petMonth: '10' }, { total: Infinity }, { perDay: NaN }]) {
        await expect(
          PsPrivateAccessStore.addPreEncryptedKey(600, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, config(maxBudget)),
        ).rejects.toThrow(coded('PSPAS_INVALID_CONFIGURATION'))
      }
      expect(await PsPrivateAccessStore.getApiKeys(600)).toHaveLength(0)
    })
  })

  describe('hand-edited stored values: reported and failed closed, never read as 0 or "no limit"', () => {
    // An operator's SQL (the package itself never stores these: configurations are checked,
    // amounts capped). Both backends must refuse such a key and fail over to the next one.
    const edit = (id, column, json) =>
      db.kind === 'postgres'
        ? db.query(`UPDATE ps_private_access_store SET ${column} = $2::jsonb WHERE id = $1`, [id, json])
        : db.query(`UPDATE ps_private_access_store SET ${column} = ? WHERE id = ?`, [json, id])

    test.each([
      ['a string limit', 'configuration', '{"maxBudget": {"perDay": null, "petMonth": null, "total": "10"}}', ['maxBudget.total']],
      ['a limit beyond a double (SQLite read the whole text as "no limit")', 'configuration', '{"maxBudget": {"total": 1e400}}', ['maxBudget.total']],
      ['a "NaN" counter (SQLite granted)', 'usage', '{"dailyUse": 0, "monthlyUse": 0, "totalUse": "NaN"}', ['usage.totalUse']],
      ['a non-numeric counter (PostgreSQL failed the whole group)', 'usage', '{"dailyUse": 0, "monthlyUse": 0, "totalUse": "abc"}', ['usage.totalUse']],
    ])('%s: the key refuses, the next one serves, the status names the field', async (_label, column, json, fields) => {
      const g = 700 + Math.floor(Math.random() * 1e6)
      const bad = await addKey(g, 'sk-hand-edited', { perDay: 100, petMonth: null, total: null })
      await addKey(g, 'sk-next', { perDay: 100, petMonth: null, total: null })
      await edit(bad.id, column, json)
      expect(await PsPrivateAccessStore.incrementUsageAndGetApiKey(g, { incrementAmount: 1 })).toBe('sk-next')
      const status = await PsPrivateAccessStore.getBudgetStatus(bad.id)
      // SQLite cannot parse 1e400 at all, so every limit and threshold of that text is unreadable.
      expect(status.unreadable).toEqual(expect.arrayContaining(fields))
      if (column === 'usage') {
        expect(status.total.used).toBeNull()
        expect((await PsPrivateAccessStore.getUsage(bad.id)).totalUse).toBeNull()
      }
      expect((await PsPrivateAccessStore.getApiKeys(g))[0].usage.totalUse).not.toBe(1)
    })
  })
})

// Every documented method on both backends, a fresh database per suite. Bad input rejects
// with a coded message and writes nothing.
'use strict'
const { coded } = require('./support/errors.cjs')
const { PsPrivateAccessStore: S } = require('..')
const { BACKENDS, pgUrlFor, generateKeys, original } = require('../tools/harness/index.cjs')

const keys = generateKeys()
const KEYS = { publicKey: keys.publicKey, privateKey: keys.privateKey }
const CONFIG = { maxBudget: { perDay: 1000, petMonth: 20000, total: 100000 }, emailNotificationBudgetThresholds: { daily: 0.8, monthly: 0.9 } }

describe.each(BACKENDS)('%s', (_name, fresh) => {
  let db
  let seq = 0
  const group = () => 1000 + ++seq // each test its own group
  const add = (groupId, plaintext, aiModelId = 3, externalApiId = undefined) => {
    const { encryptedApiKey, encryptedAesKey } = S.encryptApiKey(plaintext)
    return S.addPreEncryptedKey(groupId, 7, aiModelId, externalApiId, encryptedApiKey, encryptedAesKey, CONFIG)
  }

  // Set up as a PolicySynth suite does: the variables assigned on this file's process.env.
  beforeAll(async () => {
    db = await fresh('store')
    process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = keys.publicKey
    process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
    for (const v of db.envCleared) delete process.env[v]
    Object.assign(process.env, db.env)
  })
  afterAll(async () => {
    await S.close()
    await db.drop()
  })

  describe('addPreEncryptedKey', () => {
    test('stores the ciphertext and returns the record with the documented attributes', async () => {
      const g = group()
      const sealed = original.encryptApiKey('sk-stored', keys.publicKey)
      const rec = await S.addPreEncryptedKey(g, 7, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, CONFIG)
      expect(rec).toBeInstanceOf(S)
      expect(rec.created_at).toBeInstanceOf(Date)
      expect(rec.toJSON()).toMatchObject({
        group_id: g,
        user_id: 7,
        ai_model_id: 3,
        external_api_id: null,
        encrypted_api_key: sealed.encryptedApiKey,
        encrypted_aes_key: sealed.encryptedAesKey,
        configuration: CONFIG,
        usage: { dailyUse: 0, monthlyUse: 0, totalUse: 0 },
        last_used_at: null,
        is_active: true,
      })
      expect(Number.isInteger(rec.id) && rec.id > 0).toBe(true)
      expect(rec.updated_at).toBeInstanceOf(Date)
      expect(Math.abs(rec.created_at.getTime() - Date.now())).toBeLessThan(60000)
      expect(rec.configuration.maxBudget.petMonth).toBe(20000)
      expect(rec.Group).toBeUndefined()
      expect(rec.User).toBeUndefined()
      expect(JSON.stringify(rec)).not.toContain('sk-stored')
    })

    const sealed = () => S.encryptApiKey('sk-bad-input')
    const cases = [
      ['a negative groupId', (s) => [-1, 7, 3, undefined, s.encryptedApiKey, s.encryptedAesKey, CONFIG], coded('PSPAS_INVALID_ARGUMENT', 'groupId must be a non-negative safe integer')],
      ['a fractional userId', (s) => [1, 7.5, 3, undefined, s.encryptedApiKey, s.encryptedAesKey, CONFIG], coded('PSPAS_INVALID_ARGUMENT', 'userId must be a non-negative safe integer')],
      ['an unsafe aiModelId', (s) => [1, 7, 2 ** 53, undefined, s.encryptedApiKey, s.encryptedAesKey, CONFIG], coded('PSPAS_INVALID_ARGUMENT', 'aiModelId must be a non-negative safe integer')],
      ['an id too large for INTEGER', (s) => [2 ** 31, 7, 3, undefined, s.encryptedApiKey, s.encryptedAesKey, CONFIG], coded('PSPAS_INVALID_ARGUMENT', 'groupId must be at most 2147483647 (an INTEGER column)')],
      ['a string groupId', (s) => ['1', 7, 3, undefined, s.encryptedApiKey, s.encryptedAesKey, CONFIG], coded('PSPAS_INVALID_ARGUMENT', 'groupId must be a number')],
      ['NaN externalApiId', (s) => [1, 7, undefined, NaN, s.encryptedApiKey, s.encryptedAesKey, CONFIG], coded('PSPAS_INVALID_ARGUMENT', 'externalApiId must be a non-negative safe integer')],
      ['a non-hex ciphertext', (s) => [1, 7, 3, undefined, 'zz:yy:xx', s.encryptedAesKey, CONFIG], coded('PSPAS_INVALID_FORMAT', 'Invalid encrypted key format')],
      ['two parts', (s) => [1, 7, 3, undefined, s.encryptedApiKey.split(':').slice(0, 2).join(':'), s.encryptedAesKey, CONFIG], coded('PSPAS_INVALID_FORMAT', 'Invalid encrypted key format')],
      ['an empty third part', (s) => [1, 7, 3, undefined, s.encryptedApiKey.split(':').slice(0, 2).join(':') + ':', s.encryptedAesKey, CONFIG], coded('PSPAS_INVALID_FORMAT', 'Invalid encrypted key format')],
      ['non-canonical base64', (s) => [1, 7, 3, undefined, s.encryptedApiKey, s.encryptedAesKey.replace(/=+$/, ''), CONFIG], coded('PSPAS_INVALID_FORMAT', 'Invalid encrypted key format')],
      ['a numeric ciphertext', (s) => [1, 7, 3, undefined, 12, s.encryptedAesKey, CONFIG], coded('PSPAS_INVALID_ARGUMENT', 'encryptedApiKey must be a string')],
      ['a configuration that is not an object', (s) => [1, 7, 3, undefined, s.encryptedApiKey, s.encryptedAesKey, 'cheap'], coded('PSPAS_INVALID_CONFIGURATION', 'Invalid configuration: configuration must be an object')],
      ['a negative limit', (s) => [1, 7, 3, undefined, s.encryptedApiKey, s.encryptedAesKey, { maxBudget: { perDay: -5 } }], coded('PSPAS_INVALID_CONFIGURATION', 'Invalid configuration: maxBudget.perDay must be a number >= 0 or null')],
      ['a string limit', (s) => [1, 7, 3, undefined, s.encryptedApiKey, s.encryptedAesKey, { maxBudget: { total: '10' } }], coded('PSPAS_INVALID_CONFIGURATION', 'Invalid configuration: maxBudget.total must be a number >= 0 or null')],
    ]
    test.each(cases)('rejects %s and writes nothing', async (_what, args, message) => {
      const before = await S.getApiKeys(1)
      const p = S.addPreEncryptedKey(...args(sealed()))
      expect(p).toBeInstanceOf(Promise)
      await expect(p).rejects.toThrow(message)
      await expect(p).rejects.toBeInstanceOf(Error)
      const groupArg = args(sealed())[0]
      expect(await S.getApiKeys(1)).toHaveLength(before.length)
      if (Number.isSafeInteger(groupArg) && groupArg >= 0) expect(await S.getApiKeys(groupArg)).toHaveLength(0)
    })
  })

  describe('addPreEncryptedKey, parity with the original', () => {
    test.each([
      ['aa:bb:cc', 'AQIDBA=='],
      ['aa:bb:cc', ''],
      ['ABC:0:f', 'AQIDBA=='],
    ])('stores %j / %j (format-only check), and such a row never serves and counts nothing', async (api, aes) => {
      const g = group()
      const rec = await S.addPreEncryptedKey(g, 7, 3, undefined, api, aes, CONFIG)
      expect(rec).toBeInstanceOf(S)
      expect([rec.encrypted_api_key, rec.encrypted_aes_key]).toEqual([api, aes])
      const err = await S.incrementUsageAndGetApiKey(g, { aiModelId: 3, incrementAmount: 2 }).catch((e) => e)
      expect(err).toBeInstanceOf(Error)
      expect(err).toEqual(coded('PSPAS_DECRYPT_FAILED', 'Failed to decrypt API key: wrong RSA private key or tampered ciphertext'))
      expect(await S.getUsage(rec.id)).toEqual({ dailyUse: 0, monthlyUse: 0, totalUse: 0 })
    })
  })

  describe('getApiKeys', () => {
    test('filters like Sequelize (undefined: none, null: IS NULL) and orders is_active DESC, id ASC', async () => {
      const g = group()
      const a = await add(g, 'sk-a', 3)
      const b = await add(g, 'sk-b', null, 9)
      const c = await add(g, 'sk-c', 3, 9)
      await add(group(), 'sk-other', 3)
      await S.setKeyStatus(a.id, false)
      const ids = (rows) => rows.map((r) => r.id)
      expect(ids(await S.getApiKeys(g))).toEqual([b.id, c.id, a.id])
      expect(ids(await S.getApiKeys(g, {}))).toEqual([b.id, c.id, a.id])
      expect(ids(await S.getApiKeys(g, { aiModelId: undefined, externalApiId: undefined, isActive: undefined }))).toEqual([b.id, c.id, a.id])
      expect(ids(await S.getApiKeys(g, { aiModelId: 3 }))).toEqual([c.id, a.id])
      expect(ids(await S.getApiKeys(g, { aiModelId: null }))).toEqual([b.id])
      expect(ids(await S.getApiKeys(g, { externalApiId: null }))).toEqual([a.id])
      expect(ids(await S.getApiKeys(g, { aiModelId: 3, externalApiId: 9 }))).toEqual([c.id])
      expect(ids(await S.getApiKeys(g, { isActive: true }))).toEqual([b.id, c.id])
      expect(ids(await S.getApiKeys(g, { isActive: false }))).toEqual([a.id])
      expect(await S.getApiKeys(g + 100000)).toEqual([])
      const rows = await S.getApiKeys(g)
      for (const r of rows) {
        expect(r.encrypted_api_key).toMatch(/^[0-9a-f]{32}:[0-9a-f]{32}:[0-9a-f]+$/)
        expect(JSON.stringify(r)).not.toMatch(/sk-[abc]/)
      }
    })

    test('bad input rejects with a coded message', async () => {
      await expect(S.getApiKeys('1')).rejects.toThrow(coded('PSPAS_INVALID_ARGUMENT', 'groupId must be a number'))
      await expect(S.getApiKeys(1, 'x')).rejects.toThrow(coded('PSPAS_INVALID_ARGUMENT', 'options must be an object'))
      await expect(S.getApiKeys(1, { aiModelId: '3' })).rejects.toThrow(coded('PSPAS_INVALID_ARGUMENT', 'aiModelId must be a number'))
      await expect(S.getApiKeys(1, { isActive: 1 })).rejects.toThrow(coded('PSPAS_INVALID_ARGUMENT', 'isActive must be a boolean'))
    })
  })

  describe('incrementUsageAndGetApiKey', () => {
    test('returns the first active matching key by id, decrypted, and counts the amount', async () => {
      const g = group()
      const a = await add(g, 'sk-first', 3)
      const b = await add(g, 'sk-second', 3)
      expect(await S.incrementUsageAndGetApiKey(g, { aiModelId: 3 })).toBe('sk-first')
      expect(await S.incrementUsageAndGetApiKey(g, { aiModelId: 3, incrementAmount: 5 })).toBe('sk-first')
      expect(await S.incrementUsageAndGetApiKey(g, { aiModelId: 3, incrementAmount: 0.25 })).toBe('sk-first')
      expect(await S.getUsage(a.id)).toEqual({ dailyUse: 6.25, monthlyUse: 6.25, totalUse: 6.25 })
      expect(await S.getUsage(b.id)).toEqual({ dailyUse: 0, monthlyUse: 0, totalUse: 0 })
      const [rec] = (await S.getApiKeys(g)).filter((r) => r.id === a.id)
      expect(rec.last_used_at).toBeInstanceOf(Date)
      expect(await S.incrementUsageAndGetApiKey(g, { aiModelId: 4 })).toBeNull()
      expect(await S.incrementUsageAndGetApiKey(g, { aiModelId: null })).toBeNull()
      expect(await S.incrementUsageAndGetApiKey(g + 100000)).toBeNull()
      // isActive is accepted and ignored: inactive keys are never served.
      await S.setKeyStatus(a.id, false)
      expect(await S.incrementUsageAndGetApiKey(g, { isActive: false })).toBe('sk-second')
    })

    test('bad amounts and ids reject and count nothing', async () => {
      const g = group()
      const k = await add(g, 'sk-amounts')
      for (const [opts, message] of [
        [{ incrementAmount: NaN }, coded('PSPAS_INVALID_ARGUMENT', 'incrementAmount must be a finite number >= 0')],
        [{ incrementAmount: -1 }, coded('PSPAS_INVALID_ARGUMENT', 'incrementAmount must be a finite number >= 0')],
        [{ incrementAmount: Infinity }, coded('PSPAS_INVALID_ARGUMENT', 'incrementAmount must be a finite number >= 0')],
        [{ incrementAmount: '5' }, coded('PSPAS_INVALID_ARGUMENT', 'incrementAmount must be a number')],
        // The documented cap on one call's amount (issue 17: 1e308 used to break the group).
        [{ incrementAmount: 1e308 }, coded('PSPAS_INVALID_AMOUNT', 'incrementAmount must be at most 1e15 (the cap on one call\'s amount)')],
        [{ incrementAmount: 1e15 + 1 }, coded('PSPAS_INVALID_AMOUNT', 'incrementAmount must be at most 1e15 (the cap on one call\'s amount)')],
      ]) {
        await expect(S.incrementUsageAndGetApiKey(g, opts)).rejects.toThrow(message)
      }
      await expect(S.incrementUsageAndGetApiKey(-3)).rejects.toThrow(coded('PSPAS_INVALID_ARGUMENT', 'groupId must be a non-negative safe integer'))
      await expect(S.incrementUsageAndGetApiKey(1.5)).rejects.toThrow(coded('PSPAS_INVALID_ARGUMENT', 'groupId must be a non-negative safe integer'))
      expect(await S.getUsage(k.id)).toEqual({ dailyUse: 0, monthlyUse: 0, totalUse: 0 })
    })

    test('an undecryptable key rejects and counts no usage', async () => {
      const g = group()
      const foreign = generateKeys()
      const sealed = original.encryptApiKey('sk-foreign', foreign.publicKey)
      const k = await S.addPreEncryptedKey(g, 7, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, CONFIG)
      await expect(S.incrementUsageAndGetApiKey(g, { incrementAmount: 4 })).rejects.toThrow(
        coded('PSPAS_DECRYPT_FAILED', 'Failed to decrypt API key: wrong RSA private key or tampered ciphertext'),
      )
      expect(await S.getUsage(k.id)).toEqual({ dailyUse: 0, monthlyUse: 0, totalUse: 0 })
    })

    test('a missing private key rejects with the original sentence and counts nothing', async () => {
      const g = group()
      const k = await add(g, 'sk-nokey')
      delete process.env.RSA_API_ENCRYPTION_PRIVATE_KEY
      try {
        await expect(S.incrementUsageAndGetApiKey(g)).rejects.toThrow(
          coded('PSPAS_MISSING_PRIVATE_KEY', 'RSA_API_ENCRYPTION_PRIVATE_KEY is not set in the environment variables'),
        )
        // With no matching key there is nothing to decrypt: null, as in the original.
        expect(await S.incrementUsageAndGetApiKey(g + 100000)).toBeNull()
      } finally {
        process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
      }
      expect(await S.getUsage(k.id)).toEqual({ dailyUse: 0, monthlyUse: 0, totalUse: 0 })
    })
  })

  describe('setConfiguration', () => {
    test('replaces the budget; the next call decides on it (lean-path hints included)', async () => {
      const g = group()
      const k = await add(g, 'sk-budgeted')
      // Calls on the common path first, so a hint for this group exists on PostgreSQL.
      for (let i = 0; i < 3; i++) expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 10 })).toBe('sk-budgeted')
      const tight = { maxBudget: { perDay: 35, petMonth: null, total: null }, emailNotificationBudgetThresholds: {} }
      expect(await S.setConfiguration(k.id, tight)).toBe(true)
      expect((await S.getApiKeys(g))[0].configuration).toEqual(tight)
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 10 })).toBeNull()
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 5 })).toBe('sk-budgeted')
      expect((await S.getBudgetStatus(k.id)).daily).toMatchObject({ used: 35, limit: 35, remaining: 0 })
      expect(await S.setConfiguration(k.id, CONFIG)).toBe(true)
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 10 })).toBe('sk-budgeted')
    })

    test('bad input rejects with a coded message and writes nothing; an unknown id is false', async () => {
      const g = group()
      const k = await add(g, 'sk-config-kept')
      for (const [args, message] of [
        [[k.id, { maxBudget: { perDay: -5 } }], coded('PSPAS_INVALID_CONFIGURATION', 'Invalid configuration: maxBudget.perDay must be a number >= 0 or null')],
        [[k.id, { maxBudget: { total: '10' } }], coded('PSPAS_INVALID_CONFIGURATION', 'Invalid configuration: maxBudget.total must be a number >= 0 or null')],
        [[k.id, null], coded('PSPAS_INVALID_CONFIGURATION', 'Invalid configuration: configuration must be an object')],
        [['1', CONFIG], coded('PSPAS_INVALID_ARGUMENT', 'id must be a number')],
        [[-1, CONFIG], coded('PSPAS_INVALID_ARGUMENT', 'id must be a non-negative safe integer')],
      ]) {
        await expect(S.setConfiguration(...args)).rejects.toThrow(message)
      }
      expect((await S.getApiKeys(g))[0].configuration).toEqual(CONFIG)
      expect(await S.setConfiguration(987654, CONFIG)).toBe(false)
    })
  })

  describe('setKeyStatus', () => {
    test('reports whether a row changed; a deactivated key is never served', async () => {
      const g = group()
      const k = await add(g, 'sk-status')
      expect(await S.setKeyStatus(k.id, false)).toBe(true)
      expect(await S.incrementUsageAndGetApiKey(g)).toBeNull()
      expect(await S.setKeyStatus(k.id, true)).toBe(true)
      expect(await S.incrementUsageAndGetApiKey(g)).toBe('sk-status')
      expect(await S.setKeyStatus(99999999, false)).toBe(false)
      await expect(S.setKeyStatus(k.id, 'no')).rejects.toThrow(coded('PSPAS_INVALID_ARGUMENT', 'isActive must be a boolean'))
      await expect(S.setKeyStatus('1', true)).rejects.toThrow(coded('PSPAS_INVALID_ARGUMENT', 'id must be a number'))
      expect((await S.getApiKeys(g))[0].is_active).toBe(true)
    })
  })

  describe('getUsage', () => {
    test('returns the counters, or null for an unknown id', async () => {
      const k = await add(group(), 'sk-usage')
      expect(await S.getUsage(k.id)).toEqual({ dailyUse: 0, monthlyUse: 0, totalUse: 0 })
      expect(await S.getUsage(99999999)).toBeNull()
      await expect(S.getUsage(undefined)).rejects.toThrow(coded('PSPAS_INVALID_ARGUMENT', 'id must be a number'))
    })
  })

  describe.each(['findAll', 'findOne', 'findByPk'])('%s', (method) => {
    test('rejects as the original does', async () => {
      const warn = jest.spyOn(console, 'warn').mockImplementation(() => {})
      const p = S[method]({ where: { group_id: 1 } })
      warn.mockRestore()
      expect(p).toBeInstanceOf(Promise)
      await expect(p).rejects.toThrow(coded('PSPAS_NOT_ALLOWED', `Use of ${method} is not allowed. Use incrementUsageAndGetApiKey instead.`))
    })
  })
})

// The warning goes to this file's own console, as the original's did: a jest spy sees it.
describe('findAll / findOne / findByPk warning', () => {
  afterEach(() => jest.restoreAllMocks())
  test.each(['findAll', 'findOne', 'findByPk'])('%s warns through console.warn before it rejects', async (method) => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {})
    const p = S[method]()
    expect(warn).toHaveBeenCalledTimes(1)
    expect(warn).toHaveBeenCalledWith(`Warning: Attempted to use unsecured method ${method}. Use incrementUsageAndGetApiKey instead.`)
    expect(p).toBeInstanceOf(Promise)
    const err = await p.catch((e) => e)
    expect(err).toBeInstanceOf(Error)
    expect(err).toEqual(coded('PSPAS_NOT_ALLOWED', `Use of ${method} is not allowed. Use incrementUsageAndGetApiKey instead.`))
  })
})

describe('an unreachable database', () => {
  test('rejects naming the host, never the password', async () => {
    // The default acquire timeout (30 s) stays: a server that refuses is reported at once,
    // with the cause, not after the pool gave up.
    S.configure({ ...KEYS, databaseUrl: 'postgres://agent:hunter2-secret@127.0.0.1:1/nowhere' })
    try {
      const started = Date.now()
      const err = await S.getUsage(1).catch((e) => e)
      expect(Date.now() - started).toBeLessThan(10000)
      expect(err.message).toMatch(/Connection refused/)
      expect(err).toEqual(coded('PSPAS_DB_UNAVAILABLE', /^Cannot connect to the database at postgres:\/\/127\.0\.0\.1:1\/nowhere: /))
      expect(err.message).not.toContain('hunter2')
    } finally {
      S.configure()
      await S.close()
    }
  })

  test("the server's own message and SQLSTATE, without PostgreSQL's source position", async () => {
    S.configure({ ...KEYS, databaseUrl: pgUrlFor('pspas_no_such_database') })
    try {
      const err = await S.getUsage(1).catch((e) => e)
      expect(err).toEqual(coded('PSPAS_DB_UNAVAILABLE', /database "pspas_no_such_database" does not exist \(SQLSTATE 3D000\)$/))
      expect(err.message).not.toMatch(/at line \d+/)
    } finally {
      S.configure()
      await S.close()
    }
  })
})

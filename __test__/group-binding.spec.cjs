// Group-bound keys (issue 19): with groupBinding on, a key's data key is wrapped with its group
// in the RSA-OAEP label, so its pair copied into another group (through the table, as a
// restored backup or a hand edit would) never opens there; `bindKeys` / `ps-access-store bind`
// binds the stored rows in resumable batches; `required` refuses unbound rows. On both backends
// and through PgBouncer in transaction mode (see scripts/test.sh).
'use strict'
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { coded } = require('./support/errors.cjs')
const { PsPrivateAccessStore: S } = require('..')
const { BACKENDS, generateKeys } = require('../tools/harness/index.cjs')

const keys = generateKeys()
const BIN = path.join(__dirname, '..', 'bin', 'ps-access-store.mjs')
const DECRYPT_FAILED = coded('PSPAS_DECRYPT_FAILED', 'Failed to decrypt API key: wrong RSA private key or tampered ciphertext')
const GROUP_BOUND = coded(
  'PSPAS_GROUP_BOUND',
  "this key is bound to its group and opens only through that group's calls (incrementUsageAndGetApiKey, reserveUsageAndGetApiKey)",
)
const UNBOUND = coded(
  'PSPAS_UNBOUND_KEY',
  "this key is not bound to its group and groupBinding is 'required': bind the stored keys with `ps-access-store bind` (or PsPrivateAccessStore.bindKeys()); nothing was counted or written",
)
const DUPLICATE = coded('PSPAS_DUPLICATE_KEY')

describe.each(BACKENDS)('group-bound keys on %s', (_name, fresh) => {
  let db
  const sql = (text, params) => {
    let n = 0
    return db.query(db.kind === 'postgres' ? text.replace(/\?/g, () => `$${++n}`) : text, params)
  }
  const rowOf = async (id) => {
    const { rows } = await sql('SELECT group_id, encrypted_api_key, encrypted_aes_key, usage FROM ps_private_access_store WHERE id = ?', [id])
    const [group_id, encrypted_api_key, encrypted_aes_key, usage] = Array.isArray(rows[0]) ? rows[0] : Object.values(rows[0])
    return { group_id, encrypted_api_key, encrypted_aes_key, usage: typeof usage === 'string' ? JSON.parse(usage) : usage }
  }
  const count = async () => Number(Object.values((await db.query('SELECT count(*) AS n FROM ps_private_access_store')).rows[0])[0])
  // A copy written straight into the table (a restored backup, a hand edit, an attacker with
  // write access): what addPreEncryptedKey would refuse as a duplicate.
  const copyInto = async (groupId, encryptedApiKey, encryptedAesKey) => {
    await sql(
      'INSERT INTO ps_private_access_store (group_id, user_id, ai_model_id, configuration, usage, encrypted_api_key, encrypted_aes_key, is_active) ' +
        "VALUES (?, 1, 3, '{}', '{\"dailyUse\":0,\"monthlyUse\":0,\"totalUse\":0}', ?, ?, true)",
      [groupId, encryptedApiKey, encryptedAesKey],
    )
    const [copy] = await S.getApiKeys(groupId)
    return copy.id
  }
  const cli = (...args) =>
    spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, DATABASE_URL: db.url }, encoding: 'utf8' })

  beforeAll(async () => {
    db = await fresh('binding')
    process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = keys.publicKey
    process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
    for (const v of db.envCleared) delete process.env[v]
    Object.assign(process.env, db.env)
    await S.migrate()
  })
  afterEach(() => {
    delete process.env.PSPAS_GROUP_BINDING
    process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
  })
  afterAll(async () => {
    await S.close()
    await db.drop()
  })

  describe('bindKeys', () => {
    const GROUPS = [921, 922, 923, 924, 925, 926, 927]

    test('binds every unbound row in resumable batches: an interrupted run is completed by `ps-access-store bind`, agents served throughout', async () => {
      for (const g of GROUPS) {
        const k = S.encryptApiKey(`sk-bind-${g}`)
        await S.addPreEncryptedKey(g, 1, 3, undefined, k.encryptedApiKey, k.encryptedAesKey, {})
      }
      // The first suite of this file: the table holds these rows only.
      const before = await S.verifyKeys()
      expect(before).toMatchObject({ total: GROUPS.length, ok: GROUPS.length, unbound: GROUPS.length })
      // Interrupted after its first batch of 2 (the caller's progress callback throws).
      await expect(
        S.bindKeys({
          batchSize: 2,
          onProgress: () => {
            throw new Error('stopped by the operator')
          },
        }),
      ).rejects.toThrow('stopped by the operator')
      const mid = await S.verifyKeys()
      expect(mid.unbound).toBe(before.unbound - 2)
      for (const g of GROUPS) expect(await S.incrementUsageAndGetApiKey(g, { aiModelId: 3 })).toBe(`sk-bind-${g}`)
      // The CLI completes it: the 2 rows bound already are skipped, nothing is bound twice.
      const run = cli('bind', '--json', '--batch-size', '3')
      expect(run.status).toBe(0)
      const report = JSON.parse(run.stdout)
      expect(report).toEqual({
        total: before.total,
        bound: before.unbound - 2,
        alreadyBound: before.total - before.unbound + 2,
        cannotOpen: [],
        changedMeanwhile: 0,
        seconds: expect.any(Number),
      })
      expect(run.stdout + run.stderr).not.toContain('sk-bind-')
      const after = await S.verifyKeys()
      expect(after).toMatchObject({ total: before.total, ok: before.total, cannotOpen: [], unbound: 0, duplicates: [] })
      // Idempotent: a second run binds nothing.
      expect(await S.bindKeys()).toMatchObject({ bound: 0, alreadyBound: before.total, cannotOpen: [] })
      for (const g of GROUPS) {
        const [key] = await S.getApiKeys(g)
        expect(key.encrypted_aes_key.startsWith('g1:')).toBe(true)
        expect(await S.incrementUsageAndGetApiKey(g, { aiModelId: 3 })).toBe(`sk-bind-${g}`)
      }
    })

    test('with groupBinding required, an unbound copy is refused (nothing counted) while bound keys are served; verify reports it', async () => {
      // An unbound pair of a key bound since (an old backup), written into the table.
      const k = S.encryptApiKey('sk-old-backup')
      const original = await S.addPreEncryptedKey(930, 1, 3, undefined, k.encryptedApiKey, k.encryptedAesKey, {})
      await S.bindKeys()
      await expect(S.addPreEncryptedKey(931, 1, 3, undefined, k.encryptedApiKey, k.encryptedAesKey, {})).rejects.toEqual(DUPLICATE)
      const copy = await copyInto(931, k.encryptedApiKey, k.encryptedAesKey)
      // Readable until the operator says otherwise…
      expect(await S.incrementUsageAndGetApiKey(931, { aiModelId: 3 })).toBe('sk-old-backup')
      // …then refused.
      process.env.PSPAS_GROUP_BINDING = 'required'
      const usage = (await rowOf(copy)).usage
      await expect(S.incrementUsageAndGetApiKey(931, { aiModelId: 3 })).rejects.toEqual(UNBOUND)
      await expect(S.reserveUsageAndGetApiKey(931, { aiModelId: 3, estimate: 1 })).rejects.toEqual(UNBOUND)
      expect((await rowOf(copy)).usage).toEqual(usage)
      expect(await S.incrementUsageAndGetApiKey(930, { aiModelId: 3 })).toBe('sk-old-backup')
      const v = await S.verifyKeys()
      expect(v.unbound).toBe(1)
      const run = cli('verify')
      expect(run.stdout).toContain('1 key not bound to their group: run `ps-access-store bind`')
      expect(original.id).not.toBe(copy)
    })
  })

  describe('addPreEncryptedKey', () => {
    test("with groupBinding on, B's key is stored bound to B; its pair copied into group A never yields B's key for A, and B is still served", async () => {
      process.env.PSPAS_GROUP_BINDING = 'on'
      const b = S.encryptApiKey('sk-tenant-b')
      const stored = await S.addPreEncryptedKey(902, 1, 3, undefined, b.encryptedApiKey, b.encryptedAesKey, {})
      expect(stored).toBeInstanceOf(S)
      const row = await rowOf(stored.id)
      // Only the data key's wrapping changed: the API-key ciphertext is the one given.
      expect(row.encrypted_api_key).toBe(b.encryptedApiKey)
      expect(row.encrypted_aes_key).toMatch(/^g1:[A-Za-z0-9+/]+=*$/)
      expect(row.encrypted_aes_key).not.toContain(b.encryptedAesKey)
      // B is served (its data key now cached for group B).
      expect(await S.incrementUsageAndGetApiKey(902, { aiModelId: 3 })).toBe('sk-tenant-b')
      // The stored pair, and the pair as sealed, cannot be added again anywhere.
      await expect(S.addPreEncryptedKey(901, 9, 3, undefined, row.encrypted_api_key, row.encrypted_aes_key, {})).rejects.toEqual(DUPLICATE)
      await expect(S.addPreEncryptedKey(901, 9, 3, undefined, b.encryptedApiKey, b.encryptedAesKey, {})).rejects.toEqual(DUPLICATE)
      // Copied into A through the table: bound to B, it does not open for A (not from the
      // cache either), and the failed call counts nothing.
      const copy = await copyInto(901, row.encrypted_api_key, row.encrypted_aes_key)
      await expect(S.incrementUsageAndGetApiKey(901, { aiModelId: 3 })).rejects.toEqual(DECRYPT_FAILED)
      expect((await rowOf(copy)).usage).toMatchObject({ dailyUse: 0, monthlyUse: 0, totalUse: 0 })
      // Stripped of its mark to pass as unbound: the label still binds it.
      await sql('UPDATE ps_private_access_store SET encrypted_aes_key = ? WHERE id = ?', [row.encrypted_aes_key.slice(3), copy])
      await expect(S.incrementUsageAndGetApiKey(901, { aiModelId: 3 })).rejects.toEqual(DECRYPT_FAILED)
      await expect(S.reserveUsageAndGetApiKey(901, { aiModelId: 3, estimate: 1 })).rejects.toEqual(DECRYPT_FAILED)
      expect((await rowOf(copy)).usage).toMatchObject({ dailyUse: 0, monthlyUse: 0, totalUse: 0 })
      expect(await S.incrementUsageAndGetApiKey(902, { aiModelId: 3 })).toBe('sk-tenant-b')
      expect((await rowOf(stored.id)).usage.totalUse).toBe(2)
    })

    test('with groupBinding off (the default) keys are stored as given, in the original format', async () => {
      const k = S.encryptApiKey('sk-off')
      const stored = await S.addPreEncryptedKey(905, 1, 3, undefined, k.encryptedApiKey, k.encryptedAesKey, {})
      expect((await rowOf(stored.id)).encrypted_aes_key).toBe(k.encryptedAesKey)
      expect(S.decryptApiKey(k.encryptedApiKey, k.encryptedAesKey)).toBe('sk-off')
    })

    test('with groupBinding required, a key that cannot be bound (no private key set) is refused and nothing is written; with the key set it is bound', async () => {
      process.env.PSPAS_GROUP_BINDING = 'required'
      const k = S.encryptApiKey('sk-required')
      delete process.env.RSA_API_ENCRYPTION_PRIVATE_KEY
      const before = await count()
      await expect(S.addPreEncryptedKey(906, 1, 3, undefined, k.encryptedApiKey, k.encryptedAesKey, {})).rejects.toEqual(UNBOUND)
      // PolicySynth's junk pair cannot be bound either.
      await expect(S.addPreEncryptedKey(906, 1, 3, undefined, 'aa:bb:cc', 'AQIDBA==', {})).rejects.toEqual(UNBOUND)
      expect(await count()).toBe(before)
      process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
      const stored = await S.addPreEncryptedKey(906, 1, 3, undefined, k.encryptedApiKey, k.encryptedAesKey, {})
      expect((await rowOf(stored.id)).encrypted_aes_key.startsWith('g1:')).toBe(true)
      expect(await S.incrementUsageAndGetApiKey(906, { aiModelId: 3 })).toBe('sk-required')
    })

    test('a bad groupBinding is a PSPAS_CONFIG error naming where it came from, and nothing is written', async () => {
      expect(() => S.configure({ groupBinding: 'sometimes' })).toThrow(coded('PSPAS_CONFIG', 'groupBinding must be off, on or required'))
      process.env.PSPAS_GROUP_BINDING = 'sometimes'
      const k = S.encryptApiKey('sk-bad-mode')
      const before = await count()
      await expect(S.addPreEncryptedKey(907, 1, 3, undefined, k.encryptedApiKey, k.encryptedAesKey, {})).rejects.toEqual(
        coded('PSPAS_CONFIG', 'PSPAS_GROUP_BINDING must be off, on or required'),
      )
      expect(await count()).toBe(before)
    })
  })

  describe('decryptApiKey', () => {
    test('opens unbound pairs only: a bound pair has no group here and is PSPAS_GROUP_BOUND', async () => {
      process.env.PSPAS_GROUP_BINDING = 'on'
      const k = S.encryptApiKey('sk-decrypt')
      expect(S.decryptApiKey(k.encryptedApiKey, k.encryptedAesKey)).toBe('sk-decrypt')
      const stored = await S.addPreEncryptedKey(910, 1, 3, undefined, k.encryptedApiKey, k.encryptedAesKey, {})
      const row = await rowOf(stored.id)
      expect(() => S.decryptApiKey(row.encrypted_api_key, row.encrypted_aes_key)).toThrow(GROUP_BOUND)
    })
  })

})

// Key rotation from the public entry, on both backends, set up as a deployment does: the new
// key pair as the current keys and the old private key in
// RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS, all on this file's process.env.
'use strict'
const { coded } = require('./support/errors.cjs')
const { PsPrivateAccessStore: S } = require('..')
const { BACKENDS, withClient, generateKeys } = require('../tools/harness/index.cjs')

const oldKeys = generateKeys()
const newKeys = generateKeys()
const otherKeys = generateKeys()
const oneLine = (pem) => pem.trim().replace(/\n/g, '\\n') // as written in a .env file

function deploy({ current, previous }) {
  process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = current.publicKey
  process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = current.privateKey
  if (previous === undefined) delete process.env.RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS
  else process.env.RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS = previous
}

describe.each(BACKENDS)('%s', (_name, fresh) => {
  let db
  const rows = [] // { id, group, plaintext }
  const snapshot = async () => {
    if (db.kind === 'postgres') {
      return withClient(db.url, async (c) => (await c.query('SELECT id, encrypted_api_key, encrypted_aes_key FROM ps_private_access_store ORDER BY id')).rows)
    }
    // SQLite: read through the library's own listing, group by group.
    const out = []
    for (const r of rows) {
      const [rec] = await S.getApiKeys(r.group)
      out.push({ id: rec.id, encrypted_api_key: rec.encrypted_api_key, encrypted_aes_key: rec.encrypted_aes_key })
    }
    return out
  }

  beforeAll(async () => {
    db = await fresh('rotation')
    for (const v of db.envCleared) delete process.env[v]
    Object.assign(process.env, db.env)
    deploy({ current: oldKeys })
    for (let i = 0; i < 12; i++) {
      const sealed = S.encryptApiKey(`sk-rotate-${i}`)
      const rec = await S.addPreEncryptedKey(500 + i, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, {})
      rows.push({ id: rec.id, group: 500 + i, plaintext: `sk-rotate-${i}` })
    }
  })
  afterAll(async () => {
    deploy({ current: oldKeys })
    await S.close()
    await db.drop()
  })

  describe('migrate', () => {
    test('opens the store and leaves the existing table and rows as they are', async () => {
      await expect(S.migrate()).resolves.toBeUndefined()
      expect(await S.getApiKeys(rows[0].group)).toHaveLength(1)
    })
  })

  describe('verifyKeys', () => {
    test('counts rows by the key that opens them, never returning a secret', async () => {
      deploy({ current: newKeys, previous: oldKeys.privateKey })
      const progress = []
      const v = await S.verifyKeys({ batchSize: 5, onProgress: (p) => progress.push(p) })
      expect(v).toEqual({ total: 12, ok: 0, previousKey: 12, cannotOpen: [], unbound: 12, duplicates: [] })
      expect(progress).toEqual([{ done: 5, total: 12 }, { done: 10, total: 12 }, { done: 12, total: 12 }])
      deploy({ current: newKeys })
      expect((await S.verifyKeys()).cannotOpen).toEqual(rows.map((r) => r.id))
    })

    test('rejects a bad batch size with a code, before touching anything', async () => {
      for (const batchSize of [0, 10001, 2.5]) {
        await expect(S.verifyKeys({ batchSize })).rejects.toThrow(coded('PSPAS_INVALID_ARGUMENT', 'batchSize must be an integer from 1 to 10000'))
      }
      await expect(S.rotateKeys({ batchSize: '10' })).rejects.toThrow(coded('PSPAS_INVALID_ARGUMENT', 'batchSize must be a number'))
      await expect(S.rotateKeys({ onProgress: 'yes' })).rejects.toThrow(coded('PSPAS_INVALID_ARGUMENT', 'onProgress must be a function'))
    })
  })

  describe('RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS', () => {
    test('agents are served rows of the old key while the new key is current', async () => {
      deploy({ current: newKeys, previous: `${oneLine(otherKeys.privateKey)},${oneLine(oldKeys.privateKey)}` })
      expect(await S.incrementUsageAndGetApiKey(rows[0].group)).toBe(rows[0].plaintext)
    })

    test('without it the old rows cannot be opened and nothing is counted', async () => {
      deploy({ current: newKeys })
      const before = (await S.getUsage(rows[1].id)).totalUse
      await expect(S.incrementUsageAndGetApiKey(rows[1].group)).rejects.toThrow(coded('PSPAS_DECRYPT_FAILED', 'Failed to decrypt API key: wrong RSA private key or tampered ciphertext'))
      expect((await S.getUsage(rows[1].id)).totalUse).toBe(before)
    })

    test('a value that holds no PEM is a coded error naming the variable, never its value', async () => {
      deploy({ current: newKeys, previous: 'not-a-pem-canary' })
      let err
      try {
        await S.incrementUsageAndGetApiKey(rows[2].group)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(Error)
      expect(err.code).toBe('PSPAS_INVALID_RSA_KEY')
      expect(err.message).toContain('RSA_API_ENCRYPTION_PREVIOUS_PRIVATE_KEYS')
      expect(err.message).not.toContain('canary')
    })
  })

  describe('rotateKeys', () => {
    test('refuses a new public key that is not the current private key\'s, writing nothing', async () => {
      deploy({ current: newKeys, previous: oldKeys.privateKey })
      const before = await snapshot()
      await expect(S.rotateKeys({ newPublicKey: otherKeys.publicKey })).rejects.toMatchObject({ code: 'PSPAS_CONFIG' })
      expect(await snapshot()).toEqual(before)
    })

    test('rewraps only the data keys, in batches, while agents keep being served', async () => {
      deploy({ current: newKeys, previous: oldKeys.privateKey })
      const before = await snapshot()
      const progress = []
      const serving = Promise.all(rows.map((r) => S.incrementUsageAndGetApiKey(r.group)))
      const r = await S.rotateKeys({ batchSize: 4, newPublicKey: newKeys.publicKey, onProgress: (p) => progress.push(p.done) })
      expect(await serving).toEqual(rows.map((x) => x.plaintext))
      expect(r).toMatchObject({ total: 12, rotated: 12, alreadyCurrent: 0, cannotOpen: [], changedMeanwhile: 0 })
      expect(r.seconds).toBeGreaterThan(0)
      expect(progress).toEqual([4, 8, 12])
      const after = await snapshot()
      after.forEach((row, i) => {
        expect(row.encrypted_api_key).toBe(before[i].encrypted_api_key)
        expect(row.encrypted_aes_key).not.toBe(before[i].encrypted_aes_key)
      })
    })

    test('a second run recognises every row and rewraps nothing', async () => {
      const before = await snapshot()
      const r = await S.rotateKeys()
      expect(r).toMatchObject({ total: 12, rotated: 0, alreadyCurrent: 12, cannotOpen: [] })
      expect(await snapshot()).toEqual(before)
    })

    test('afterwards the new key alone opens every row', async () => {
      deploy({ current: newKeys })
      expect(await S.verifyKeys()).toEqual({ total: 12, ok: 12, previousKey: 0, cannotOpen: [], unbound: 12, duplicates: [] })
      for (const r of rows.slice(0, 3)) expect(await S.incrementUsageAndGetApiKey(r.group)).toBe(r.plaintext)
    })
  })
})

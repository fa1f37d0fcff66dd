// The envelope: wire-compatible with the original both ways, pinned by golden vectors that
// node:crypto made, and strict about tampering.
'use strict'
const { coded } = require('./support/errors.cjs')
const fs = require('node:fs')
const path = require('node:path')
const { PsPrivateAccessStore } = require('..')
const { generateKeys, original } = require('../tools/harness/index.cjs')

const golden = JSON.parse(fs.readFileSync(path.join(__dirname, '../tests/fixtures/golden.json'), 'utf8'))
const { privatePkcs8, privatePkcs1, publicSpki, publicPkcs1 } = golden.keys
const oneLine = (pem) => pem.trim().replace(/\n/g, '\\n') // as written in a .env file

const use = (keys) => PsPrivateAccessStore.configure(keys)
afterAll(() => PsPrivateAccessStore.configure())

describe('decryptApiKey', () => {
  test.each([
    ['PKCS#8', privatePkcs8],
    ['PKCS#1', privatePkcs1],
    ['PKCS#8 with literal \\n', oneLine(privatePkcs8)],
    ['PKCS#1 with literal \\n', oneLine(privatePkcs1)],
  ])('opens every vector node:crypto sealed, private key %s', (_kind, privateKey) => {
    use({ privateKey })
    for (const v of golden.vectors) {
      expect(PsPrivateAccessStore.decryptApiKey(v.encryptedApiKey, v.encryptedAesKey)).toBe(v.plaintext)
    }
  })

  test('opens what the original code seals now, with a fresh key pair', () => {
    const keys = generateKeys()
    use({ privateKey: keys.privateKey })
    const sealed = original.encryptApiKey('sk-live-from-node', keys.publicKey)
    expect(PsPrivateAccessStore.decryptApiKey(sealed.encryptedApiKey, sealed.encryptedAesKey)).toBe('sk-live-from-node')
  })

  test('tampered, truncated or foreign ciphertext is an error, never a wrong plaintext', () => {
    use({ privateKey: privatePkcs8 })
    const v = golden.vectors[0]
    const [iv, tag, ct] = v.encryptedApiKey.split(':')
    const flip = (hex, i) => hex.slice(0, i) + (hex[i] === '0' ? '1' : '0') + hex.slice(i + 1)
    const decrypt = (a, b) => () => PsPrivateAccessStore.decryptApiKey(a, b)
    const failed = coded('PSPAS_DECRYPT_FAILED', 'Failed to decrypt API key: wrong RSA private key or tampered ciphertext')
    expect(decrypt(`${iv}:${tag}:${flip(ct, 0)}`, v.encryptedAesKey)).toThrow(failed)
    expect(decrypt(`${iv}:${flip(tag, 5)}:${ct}`, v.encryptedAesKey)).toThrow(failed)
    expect(decrypt(`${flip(iv, 7)}:${tag}:${ct}`, v.encryptedAesKey)).toThrow(failed)
    const wrapped = Buffer.from(v.encryptedAesKey, 'base64')
    wrapped[17] ^= 1
    expect(decrypt(v.encryptedApiKey, wrapped.toString('base64'))).toThrow(failed)
    // Node accepts a 15-byte prefix of the real tag; the package does not.
    expect(decrypt(`${iv}:${tag.slice(0, 30)}:${ct}`, v.encryptedAesKey)).toThrow(coded('PSPAS_INVALID_FORMAT', 'Invalid encrypted key format'))
    expect(decrypt('abc', v.encryptedAesKey)).toThrow(coded('PSPAS_INVALID_FORMAT', 'Invalid encrypted key format'))
    use({ privateKey: generateKeys().privateKey })
    expect(decrypt(v.encryptedApiKey, v.encryptedAesKey)).toThrow(failed)
  })

  test('errors are thrown synchronously with err.code, and never contain key material', () => {
    use({})
    let err
    try {
      PsPrivateAccessStore.decryptApiKey(golden.vectors[0].encryptedApiKey, golden.vectors[0].encryptedAesKey)
    } catch (e) {
      err = e
    }
    if (!process.env.RSA_API_ENCRYPTION_PRIVATE_KEY) {
      expect(err).toEqual(coded('PSPAS_MISSING_PRIVATE_KEY', 'RSA_API_ENCRYPTION_PRIVATE_KEY is not set in the environment variables'))
      expect(err).toBeInstanceOf(Error)
    }
    const broken = privatePkcs8.replace('MII', 'MJJ')
    // Given to configure(): rejected there, naming the option.
    expect(() => use({ privateKey: broken })).toThrow(
      coded('PSPAS_INVALID_RSA_KEY', 'The privateKey option is not a valid RSA private key (PEM, PKCS#8 or PKCS#1)'),
    )
    // Set in the environment: rejected when used, naming the variable.
    process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = broken
    try {
      PsPrivateAccessStore.decryptApiKey(golden.vectors[0].encryptedApiKey, golden.vectors[0].encryptedAesKey)
      throw new Error('expected a throw')
    } catch (e) {
      expect(e).toEqual(coded('PSPAS_INVALID_RSA_KEY', 'RSA_API_ENCRYPTION_PRIVATE_KEY is not a valid RSA private key (PEM, PKCS#8 or PKCS#1)'))
      expect(e.message).not.toContain('MJJ')
    } finally {
      delete process.env.RSA_API_ENCRYPTION_PRIVATE_KEY
    }
    use({ privateKey: privatePkcs8 })
    expect(() => PsPrivateAccessStore.decryptApiKey(42, 'x')).toThrow(coded('PSPAS_INVALID_ARGUMENT', 'encryptedApiKey must be a string'))
  })
})

describe('encryptApiKey', () => {
  test.each([
    ['SPKI', publicSpki],
    ['PKCS#1', publicPkcs1],
    ['SPKI with literal \\n', oneLine(publicSpki)],
  ])('seals in the original format, and node:crypto opens it (public key %s)', (_kind, publicKey) => {
    use({ publicKey, privateKey: privatePkcs8 })
    for (const plaintext of ['sk-proj-abc', 'ключ-🔑', 'x'.repeat(500)]) {
      const { encryptedApiKey, encryptedAesKey } = PsPrivateAccessStore.encryptApiKey(plaintext)
      expect(encryptedApiKey).toMatch(/^[0-9a-f]{32}:[0-9a-f]{32}:[0-9a-f]+$/)
      expect(Buffer.from(encryptedAesKey, 'base64').toString('base64')).toBe(encryptedAesKey)
      expect(Buffer.from(encryptedAesKey, 'base64')).toHaveLength(256)
      expect(original.decryptApiKey(encryptedApiKey, encryptedAesKey, privatePkcs8)).toBe(plaintext)
      expect(PsPrivateAccessStore.decryptApiKey(encryptedApiKey, encryptedAesKey)).toBe(plaintext)
    }
  })

  test('every call uses a fresh AES key and IV', () => {
    use({ publicKey: publicSpki })
    const a = PsPrivateAccessStore.encryptApiKey('same')
    const b = PsPrivateAccessStore.encryptApiKey('same')
    expect(a.encryptedApiKey.split(':')[0]).not.toBe(b.encryptedApiKey.split(':')[0])
    expect(a.encryptedAesKey).not.toBe(b.encryptedAesKey)
  })

  test('bad input: empty key, wrong type, missing or malformed public key', () => {
    use({ publicKey: publicSpki })
    expect(() => PsPrivateAccessStore.encryptApiKey('')).toThrow(coded('PSPAS_EMPTY_API_KEY', 'API key must be a non-empty string'))
    expect(() => PsPrivateAccessStore.encryptApiKey(undefined)).toThrow(coded('PSPAS_INVALID_ARGUMENT', 'apiKey must be a string'))
    expect(() => use({ publicKey: 'not a pem' })).toThrow(
      coded('PSPAS_INVALID_RSA_KEY', 'The publicKey option is not a valid RSA public key (PEM, SPKI or PKCS#1)'),
    )
    use({})
    process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = 'not a pem'
    try {
      expect(() => PsPrivateAccessStore.encryptApiKey('sk')).toThrow(
        coded('PSPAS_INVALID_RSA_KEY', 'RSA_API_ENCRYPTION_PUBLIC_KEY is not a valid RSA public key (PEM, SPKI or PKCS#1)'),
      )
    } finally {
      delete process.env.RSA_API_ENCRYPTION_PUBLIC_KEY
    }
    if (!process.env.RSA_API_ENCRYPTION_PUBLIC_KEY) {
      use({})
      expect(() => PsPrivateAccessStore.encryptApiKey('sk')).toThrow(
        coded('PSPAS_MISSING_PUBLIC_KEY', 'RSA_API_ENCRYPTION_PUBLIC_KEY is not set in the environment variables'),
      )
    }
  })
})

describe('isValidEncryptedFormat / isValidHex / isValidBase64', () => {
  test("match the original's format-only rules of addPreEncryptedKey", () => {
    const S = PsPrivateAccessStore
    expect(S.isValidEncryptedFormat(golden.vectors[0].encryptedApiKey)).toBe(true)
    // PolicySynth's own unit test stores this pair: three hex parts pass, whatever their length.
    expect(S.isValidEncryptedFormat('aa:bb:cc')).toBe(true)
    expect(S.isValidEncryptedFormat('abc:0:F')).toBe(true)
    expect(S.isValidEncryptedFormat('aa:bb:')).toBe(false)
    expect(S.isValidEncryptedFormat('aa:bb')).toBe(false)
    expect(S.isValidEncryptedFormat('aa:bb:cc:dd')).toBe(false)
    expect(S.isValidEncryptedFormat('aa:bb:zz')).toBe(false)
    expect(S.isValidHex('00aAfF')).toBe(true)
    expect(S.isValidHex('abc')).toBe(true)
    expect(S.isValidHex('0g')).toBe(false)
    expect(S.isValidHex('')).toBe(false)
    expect(S.isValidBase64('AQIDBA==')).toBe(true)
    expect(S.isValidBase64('aGk=')).toBe(true)
    expect(S.isValidBase64('')).toBe(true) // btoa(atob('')) === ''
    expect(S.isValidBase64('aGk')).toBe(false)
    expect(S.isValidBase64('aGk=\n')).toBe(false)
    // Not a string: not valid (never a throw).
    for (const v of [-1, 12, null, undefined, {}, ['aa']]) {
      expect(S.isValidHex(v)).toBe(false)
      expect(S.isValidBase64(v)).toBe(false)
      expect(S.isValidEncryptedFormat(v)).toBe(false)
    }
  })
})

// Every method's failure is an Error of this file's realm with a PSPAS_* code; async methods
// never throw synchronously (they reject), sync ones throw. Set-up through process.env.
'use strict'
const { PsPrivateAccessStore: S } = require('..')
const { freshSqlite, generateKeys } = require('../tools/harness/index.cjs')

const keys = generateKeys()
let db
beforeAll(async () => {
  db = await freshSqlite('errors')
  process.env.PSPAS_SQLITE_PATH = db.file
  process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = keys.publicKey
  process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
})
afterAll(async () => {
  await S.close()
  await db.drop()
})

const throwingOptions = Object.defineProperty({}, 'aiModelId', {
  get() {
    throw new Error('getter bug')
  },
})

const asyncCases = [
  ['addPreEncryptedKey', () => S.addPreEncryptedKey(-1, 1, 1, undefined, 'aa:bb:cc', 'AQIDBA==', {}), 'PSPAS_INVALID_ARGUMENT'],
  ['addPreEncryptedKey', () => S.addPreEncryptedKey(1, 1, 1, undefined, 'aa:bb:cc', 'AQIDBA==', null), 'PSPAS_INVALID_CONFIGURATION'],
  ['addPreEncryptedKey', () => S.addPreEncryptedKey(1, 1, 1, undefined, 'aa:bb:cc', 'AQIDBA==', { maxBudget: { total: 10n } }), 'PSPAS_INVALID_CONFIGURATION'],
  ['getApiKeys', () => S.getApiKeys(NaN), 'PSPAS_INVALID_ARGUMENT'],
  ['getApiKeys', () => S.getApiKeys(1, { externalApiId: {} }), 'PSPAS_INVALID_ARGUMENT'],
  ['incrementUsageAndGetApiKey', () => S.incrementUsageAndGetApiKey(1, { incrementAmount: NaN }), 'PSPAS_INVALID_ARGUMENT'],
  ['incrementUsageAndGetApiKey', () => S.incrementUsageAndGetApiKey(2 ** 53), 'PSPAS_INVALID_ARGUMENT'],
  ['setKeyStatus', () => S.setKeyStatus(1, 'yes'), 'PSPAS_INVALID_ARGUMENT'],
  ['getUsage', () => S.getUsage(-1), 'PSPAS_INVALID_ARGUMENT'],
  ['getBudgetStatus', () => S.getBudgetStatus('1'), 'PSPAS_INVALID_ARGUMENT'],
  ['findAll', () => S.findAll(), 'PSPAS_NOT_ALLOWED'],
]

describe('async methods', () => {
  beforeEach(() => jest.spyOn(console, 'warn').mockImplementation(() => {}))
  afterEach(() => jest.restoreAllMocks())
  test.each(asyncCases)('%s rejects (never throws) with an Error carrying err.code', async (_m, call, code) => {
    let p
    expect(() => (p = call())).not.toThrow()
    expect(p).toBeInstanceOf(Promise)
    const err = await p.then(() => null, (e) => e)
    expect(err).toBeInstanceOf(Error)
    expect(err.code).toBe(code)
    expect(err.message).not.toMatch(/^PSPAS_/)
  })

  test('an options object whose getter throws makes the call reject, not throw', async () => {
    let p
    expect(() => (p = S.incrementUsageAndGetApiKey(1, throwingOptions))).not.toThrow()
    await expect(p).rejects.toThrow('getter bug')
  })
})

describe('sync methods', () => {
  test.each([
    ['encryptApiKey', () => S.encryptApiKey(42), 'PSPAS_INVALID_ARGUMENT'],
    ['encryptApiKey', () => S.encryptApiKey(''), 'PSPAS_EMPTY_API_KEY'],
    ['decryptApiKey', () => S.decryptApiKey('aa:bb:cc', 'AQIDBA=='), 'PSPAS_INVALID_FORMAT'],
    ['decryptApiKey', () => S.decryptApiKey(`${'00'.repeat(16)}:${'11'.repeat(16)}:abcd`, 'AQIDBA=='), 'PSPAS_DECRYPT_FAILED'],
    ['onBudgetEvent', () => S.onBudgetEvent(null), 'PSPAS_INVALID_ARGUMENT'],
    ['configure', () => S.configure({ poolMax: -1 }), 'PSPAS_CONFIG'],
    ['configure', () => S.configure({ databaseURL: 'postgres://x' }), 'PSPAS_CONFIG'],
    ['configure', () => S.configure({ databaseUrl: 'mysql://x' }), 'PSPAS_CONFIG'],
    ['configure', () => S.configure('postgres://x'), 'PSPAS_CONFIG'],
  ])('%s throws an Error carrying err.code', (_m, call, code) => {
    let err
    try {
      call()
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(Error)
    expect(err.code).toBe(code)
  })

  test('configuration mistakes are named where they are made, never with their value', async () => {
    const { coded } = require('./support/errors.cjs')
    expect(() => S.configure({ databaseUrl: 'mysql://u:secret@h/db' })).toThrow(
      coded('PSPAS_CONFIG', 'databaseUrl must start with postgres://, postgresql:// or sqlite:'),
    )
    expect(() => S.configure({ databaseURL: 'postgres://h/db' })).toThrow(coded('PSPAS_CONFIG', /^Unknown option "databaseURL"; the options are databaseUrl, /))
    expect(() => S.configure({ privateKey: 'not a pem' })).toThrow(
      coded('PSPAS_INVALID_RSA_KEY', 'The privateKey option is not a valid RSA private key (PEM, PKCS#8 or PKCS#1)'),
    )
    expect(() => S.configure({ publicKey: keys.privateKey })).toThrow(
      coded('PSPAS_INVALID_RSA_KEY', 'The publicKey option is not a valid RSA public key (PEM, SPKI or PKCS#1)'),
    )
    // A SQLite file in a folder that does not exist: the folder is named (SQLite says only
    // "unable to open database file").
    S.configure({ sqlitePath: '/nonexistent-pspas-dir/sub/store.sqlite' })
    try {
      await expect(S.getApiKeys(1)).rejects.toThrow(
        coded('PSPAS_DB_UNAVAILABLE', 'Cannot connect to the database at sqlite:/nonexistent-pspas-dir/sub/store.sqlite: the directory /nonexistent-pspas-dir/sub does not exist'),
      )
    } finally {
      S.configure()
    }
  })

  test('a rejected configure() leaves the previous set-up in place', async () => {
    const { coded } = require('./support/errors.cjs')
    expect(() => S.configure({ timezone: 'Nowhere/Else' })).toThrow(coded('PSPAS_CONFIG', 'timezone must be an IANA name such as UTC or Europe/Paris'))
    expect(await S.getApiKeys(1)).toEqual([])
  })
})

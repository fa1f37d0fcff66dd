// Memory that does not outlive its promise (issue 19): cached data keys expire on a timer, not
// only when a call touches the cache; set-ups beyond the bound are evicted, least recently
// used first, with their connections closed (seen in pg_stat_activity). (close() clearing the
// cache is proven in tests/cache.rs, where the closed service can still be inspected.)
'use strict'
const { PsPrivateAccessStore: S } = require('..')
const { freshPostgres, generateKeys, adminQuery } = require('../tools/harness/index.cjs')

const keys = generateKeys()
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

describe('getDiagnostics', () => {
  let db
  beforeAll(async () => {
    db = await freshPostgres('memory')
    process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = keys.publicKey
    process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
    Object.assign(process.env, db.env)
  })
  afterAll(async () => {
    for (const v of ['DATABASE_URL', 'DB_POOL_MIN', 'DB_POOL_MAX']) delete process.env[v]
    S.configure()
    await S.close()
    await db.drop()
  })

  test("an idle process's expired data keys are gone without a call", async () => {
    S.configure({ databaseUrl: db.url, keyCacheMaxAgeMs: 300 })
    const sealed = S.encryptApiKey('sk-idle')
    await S.addPreEncryptedKey(901, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, {})
    expect(await S.incrementUsageAndGetApiKey(901)).toBe('sk-idle')
    expect(S.getDiagnostics().keyCacheEntries).toBe(1)
    await sleep(900)
    // No call since: the sweeper dropped (and zeroized) it.
    expect(S.getDiagnostics().keyCacheEntries).toBe(0)
    await S.close()
  })

  test('set-ups beyond 16 are evicted, least recently used first, and their connections closed', async () => {
    const url = (i) => `${db.url}${db.url.includes('?') ? '&' : '?'}application_name=pspas-setup-${i}`
    const connections = async () => {
      const { rows } = await adminQuery(
        "SELECT application_name, count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'pspas-setup-%' GROUP BY 1",
      )
      return Object.fromEntries(rows.map((r) => [r.application_name, r.n]))
    }
    S.configure({ databaseUrl: db.url })
    const sealed = S.encryptApiKey('sk-setups')
    await S.addPreEncryptedKey(902, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, {})
    await S.close()
    // Twenty database set-ups, as twenty environments naming different databases (or roles)
    // would make: each its own pool of one connection.
    S.configure()
    Object.assign(process.env, { DB_POOL_MIN: '1', DB_POOL_MAX: '1' })
    for (let i = 0; i < 20; i++) {
      process.env.DATABASE_URL = url(i)
      expect(await S.getApiKeys(902)).toHaveLength(1)
    }
    expect(S.getDiagnostics().sharedSetups).toBeLessThanOrEqual(16)
    let open = await connections()
    for (let t = 0; t < 100 && Object.keys(open).some((a) => ['0', '1', '2', '3'].includes(a.split('-').pop())); t++) {
      await sleep(50)
      open = await connections()
    }
    // The four least recently used set-ups hold no connection; the newest do.
    for (const i of [0, 1, 2, 3]) expect(open[`pspas-setup-${i}`]).toBeUndefined()
    for (const i of [16, 17, 18, 19]) expect(open[`pspas-setup-${i}`]).toBe(1)
    // A set-up used again is shared again and works.
    process.env.DATABASE_URL = url(0)
    expect(await S.getApiKeys(902)).toHaveLength(1)
    expect(S.getDiagnostics().sharedSetups).toBeLessThanOrEqual(16)
  })
})

describe('PSPAS_NO_CORE_DUMPS', () => {
  const { execFileSync } = require('node:child_process')
  const os = require('node:os')
  const path = require('node:path')
  // A fresh process (the setting is read once, when the addon loads), as a service would start.
  const diagnosticsOf = (env) => {
    const dir = require('node:fs').mkdtempSync(path.join(os.tmpdir(), 'pspas-dump-'))
    const script = `const { PsPrivateAccessStore: S } = require(${JSON.stringify(path.join(__dirname, '..'))}); process.stdout.write(JSON.stringify(S.getDiagnostics()))`
    const out = execFileSync(process.execPath, ['-e', script], {
      env: { PATH: process.env.PATH, PSPAS_SQLITE_PATH: path.join(dir, 'store.sqlite'), ...env },
      encoding: 'utf8',
    })
    require('node:fs').rmSync(dir, { recursive: true, force: true })
    return JSON.parse(out)
  }

  test('true: the kernel marks the process not dumpable (no core file holds cached keys); unset: unchanged', () => {
    if (process.platform !== 'linux') return
    expect(diagnosticsOf({ PSPAS_NO_CORE_DUMPS: 'true' })).toEqual({ keyCacheEntries: 0, sharedSetups: 1, coreDumpsExcluded: true, crossKeyBatches: 0, leanIncrements: 0, readOnlyRefusals: 0, serverMoves: 0 })
    expect(diagnosticsOf({})).toEqual({ keyCacheEntries: 0, sharedSetups: 1, coreDumpsExcluded: false, crossKeyBatches: 0, leanIncrements: 0, readOnlyRefusals: 0, serverMoves: 0 })
  })
})

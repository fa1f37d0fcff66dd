// Cross-key batching (PostgreSQL, directly and through PgBouncer): calls on many groups at
// once, from several processes with 32 in flight each, are counted exactly as they would be
// one by one — granted == limit per group, failover in key order, each budget event once,
// requestId repeats counted once, holds settled exactly, no key served to another group —
// and batches of every process lock rows in one order: no deadlock reaches the server.
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { PsPrivateAccessStore } = require('..')
const { freshPostgres, generateKeys, childEnv, startWorker, runTogether } = require('../tools/harness/index.cjs')

const keys = generateKeys()
const CHILD_ENV = childEnv(keys)
const EVENT_KINDS = ['dailyThreshold', 'monthlyThreshold', 'dailyLimit', 'monthlyLimit', 'totalLimit']

// A seeded shuffle: a failure names its seed and can be replayed with PSPAS_TEST_SEED.
const SEED = Number(process.env.PSPAS_TEST_SEED || Date.now() % 1e9)
function random(seed) {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 2 ** 32
  }
}
function shuffle(list, rand) {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[list[i], list[j]] = [list[j], list[i]]
  }
  return list
}

const budget = (limit) => ({
  maxBudget: { perDay: limit, petMonth: limit, total: limit },
  emailNotificationBudgetThresholds: { daily: 0.5, monthly: 0.9 },
})

async function addKey(groupId, plaintext, limit) {
  const sealed = PsPrivateAccessStore.encryptApiKey(plaintext)
  return PsPrivateAccessStore.addPreEncryptedKey(groupId, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, budget(limit))
}

const plans = path.join(os.tmpdir(), `pspas-cross-key-${process.pid}`)
let planCount = 0
/** Run one worker per plan together; their reports. */
function runPlans(db, planList) {
  fs.mkdirSync(plans, { recursive: true })
  const files = planList.map((plan) => {
    const file = path.join(plans, `plan-${planCount++}.json`)
    fs.writeFileSync(file, JSON.stringify({ inFlight: 32, ...plan }))
    return file
  })
  return runTogether(files.length, (i) => startWorker(path.join(__dirname, 'support/groups-hammer.cjs'), [db.url, files[i]], { env: CHILD_ENV }))
}

const sum = (list) => list.reduce((n, x) => n + x, 0)
const servedOf = (reports, g) => {
  const total = {}
  for (const r of reports) for (const [k, n] of Object.entries(r.served[g] ?? {})) total[k] = (total[k] ?? 0) + n
  return total
}
const noErrors = (reports) => expect(reports.map((r) => r.errors)).toEqual(reports.map(() => ({})))

describe('cross-key batching on PostgreSQL', () => {
  let db
  beforeAll(async () => {
    db = await freshPostgres('crosskey')
    process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = keys.publicKey
    process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
    process.env.DATABASE_URL = db.url
    console.log(`cross-key spec seed ${SEED} (replay with PSPAS_TEST_SEED=${SEED})`)
  })
  afterAll(async () => {
    await PsPrivateAccessStore.close()
    await db.drop()
    fs.rmSync(plans, { recursive: true, force: true })
  })

  describe('getDiagnostics', () => {
    test('crossKeyBatches counts batches; crossKeyBatching: false sends none', async () => {
      const groups = Array.from({ length: 32 }, (_, i) => 9000 + i)
      for (const g of groups) await addKey(g, `sk-diag-${g}`, null)
      // A first call per group (it learns the group's budget), then 4 rounds of 32 at once.
      const round = () => Promise.all(groups.map((g) => PsPrivateAccessStore.incrementUsageAndGetApiKey(g, { aiModelId: 3 })))
      PsPrivateAccessStore.configure({ databaseUrl: db.url, crossKeyBatching: false })
      for (let i = 0; i < 5; i++) expect(await round()).toEqual(groups.map((g) => `sk-diag-${g}`))
      expect(PsPrivateAccessStore.getDiagnostics().crossKeyBatches).toBe(0)
      PsPrivateAccessStore.configure({ databaseUrl: db.url })
      for (let i = 0; i < 5; i++) expect(await round()).toEqual(groups.map((g) => `sk-diag-${g}`))
      expect(PsPrivateAccessStore.getDiagnostics().crossKeyBatches).toBeGreaterThan(0)
      const usage = await PsPrivateAccessStore.getApiKeys(9000)
      expect(usage).toHaveLength(1)
      expect(await PsPrivateAccessStore.getUsage(usage[0].id)).toEqual({ dailyUse: 10, monthlyUse: 10, totalUse: 10 })
      PsPrivateAccessStore.configure(null)
    })
  })

  describe('incrementUsageAndGetApiKey: 4 processes × 32 in flight over 40 groups', () => {
    test('granted == limit per group, failover in key order, each event once, no key crosses groups', async () => {
      const groups = Array.from({ length: 40 }, (_, i) => 100 + i)
      const a = {}
      const b = {}
      for (const g of groups) {
        a[g] = await addKey(g, `sk-${g}-a`, 30)
        if (g % 2 === 0) b[g] = await addKey(g, `sk-${g}-b`, 20)
      }
      const rand = random(SEED)
      const plan = () => ({ ops: shuffle(groups.flatMap((g) => Array.from({ length: 15 }, () => ({ op: 'inc', g, amount: 1 }))), rand) })
      const reports = await runPlans(db, [plan(), plan(), plan(), plan()])
      noErrors(reports)

      for (const g of groups) {
        const expected = g % 2 === 0 ? { [`sk-${g}-a`]: 30, [`sk-${g}-b`]: 20 } : { [`sk-${g}-a`]: 30 }
        expect([g, servedOf(reports, g)]).toEqual([g, expected])
        expect([g, sum(reports.map((r) => r.nulls[g] ?? 0))]).toEqual([g, g % 2 === 0 ? 10 : 30])
        expect(await PsPrivateAccessStore.getUsage(a[g].id)).toEqual({ dailyUse: 30, monthlyUse: 30, totalUse: 30 })
        if (b[g]) expect(await PsPrivateAccessStore.getUsage(b[g].id)).toEqual({ dailyUse: 20, monthlyUse: 20, totalUse: 20 })
      }
      const events = reports.flatMap((r) => r.events)
      const keyIds = [...Object.values(a), ...Object.values(b)].map((k) => k.id)
      for (const id of keyIds) {
        expect([id, events.filter((e) => e.keyId === id).map((e) => e.kind).sort()]).toEqual([id, [...EVENT_KINDS].sort()])
      }
      expect(events).toHaveLength(keyIds.length * EVENT_KINDS.length)
      expect(sum(reports.map((r) => r.crossKeyBatches))).toBeGreaterThan(0)
    })

    test('requestId repeats from every process are counted once, beside plain calls', async () => {
      const groups = Array.from({ length: 30 }, (_, i) => 200 + i)
      const k = {}
      for (const g of groups) k[g] = await addKey(g, `sk-${g}`, 1000)
      const rand = random(SEED + 1)
      // Every process sends the same 10 ids per group (amount 2) and 5 plain calls (amount 1).
      const plan = () => ({
        ops: shuffle(
          groups.flatMap((g) => [
            ...Array.from({ length: 10 }, (_, i) => ({ op: 'inc', g, amount: 2, requestId: `cross-${g}-${i}` })),
            ...Array.from({ length: 5 }, () => ({ op: 'inc', g, amount: 1 })),
          ]),
          rand,
        ),
      })
      const reports = await runPlans(db, [plan(), plan(), plan(), plan()])
      noErrors(reports)
      for (const g of groups) {
        expect([g, servedOf(reports, g)]).toEqual([g, { [`sk-${g}`]: 60 }])
        expect(await PsPrivateAccessStore.getUsage(k[g].id)).toEqual({ dailyUse: 40, monthlyUse: 40, totalUse: 40 })
      }
      expect(sum(reports.map((r) => r.crossKeyBatches))).toBeGreaterThan(0)
    })
  })

  describe('reserveUsageAndGetApiKey and settleUsage among batched increments', () => {
    test('holds are exact: every hold settled, counters == charged + incremented', async () => {
      const groups = Array.from({ length: 30 }, (_, i) => 300 + i)
      const k = {}
      for (const g of groups) k[g] = await addKey(g, `sk-${g}`, 1000)
      const rand = random(SEED + 2)
      const plan = () => ({
        ops: shuffle(
          groups.flatMap((g) => [
            ...Array.from({ length: 6 }, () => ({ op: 'reserve', g, estimate: 3, actual: 2 })),
            ...Array.from({ length: 6 }, () => ({ op: 'inc', g, amount: 1 })),
          ]),
          rand,
        ),
      })
      const reports = await runPlans(db, [plan(), plan(), plan(), plan()])
      noErrors(reports)
      for (const g of groups) {
        expect([g, servedOf(reports, g)]).toEqual([g, { [`sk-${g}`]: 48 }])
        expect([g, sum(reports.map((r) => r.settled[g] ?? 0))]).toEqual([g, 48])
        expect(await PsPrivateAccessStore.getUsage(k[g].id)).toEqual({ dailyUse: 72, monthlyUse: 72, totalUse: 72 })
      }
      const holds = await db.query(`SELECT state, count(*)::int AS n, sum(charged)::float8 AS charged FROM ps_private_access_holds GROUP BY state`)
      expect(holds.rows).toEqual([{ state: 'settled', n: 30 * 24, charged: 30 * 48 }])
      expect(sum(reports.map((r) => r.crossKeyBatches))).toBeGreaterThan(0)
    })
  })

  describe('lock order', () => {
    // Many processes on overlapping groups in random order, every kind of call mixed in:
    // plain increments, requestId repeats, reserve+settle, failover from a key that runs out.
    // The package retries a deadlock the server reports, so the server's own counter is the
    // witness: it must not move.
    test('6 processes × 32 in flight, mixed calls on 24 overlapping groups: 0 deadlocks on the server', async () => {
      const groups = Array.from({ length: 24 }, (_, i) => 400 + i)
      const a = {}
      const b = {}
      for (const g of groups) {
        a[g] = await addKey(g, `sk-${g}-a`, 40)
        b[g] = await addKey(g, `sk-${g}-b`, null)
      }
      const deadlocks = async () => (await db.query('SELECT deadlocks::int AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0].n
      const before = await deadlocks()
      const plan = (p) => {
        const rand = random(SEED + 10 + p)
        const ops = []
        for (let i = 0; i < 400; i++) {
          const g = groups[Math.floor(rand() * groups.length)]
          const r = rand()
          if (r < 0.6) ops.push({ op: 'inc', g, amount: 1 })
          else if (r < 0.8) ops.push({ op: 'inc', g, amount: 1, requestId: `lock-${g}-${Math.floor(rand() * 20)}` })
          else ops.push({ op: 'reserve', g, estimate: 2, actual: 1 })
        }
        return { ops }
      }
      const planList = Array.from({ length: 6 }, (_, p) => plan(p))
      const reports = await runPlans(db, planList)
      noErrors(reports)
      // Each backend reports its statistics when it exits: end the ones PgBouncer keeps.
      await db.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')
      await new Promise((r) => setTimeout(r, 500))
      expect(await deadlocks()).toBe(before)

      // And the accounting of the mix is exact: per group, the plain calls, each distinct
      // requestId once, and what was settled, over both keys; key A ran out at exactly 40.
      for (const g of groups) {
        const ops = planList.flatMap((p) => p.ops).filter((o) => o.g === g)
        const expected =
          ops.filter((o) => o.op === 'inc' && !o.requestId).length +
          new Set(ops.filter((o) => o.requestId).map((o) => o.requestId)).size +
          ops.filter((o) => o.op === 'reserve').length
        const ua = await PsPrivateAccessStore.getUsage(a[g].id)
        const ub = await PsPrivateAccessStore.getUsage(b[g].id)
        expect([g, ua.totalUse + ub.totalUse]).toEqual([g, expected])
        if (expected >= 40) expect([g, ua.totalUse]).toEqual([g, 40])
        expect([g, sum(reports.map((r) => r.nulls[g] ?? 0))]).toEqual([g, 0])
      }
      expect(sum(reports.map((r) => r.crossKeyBatches))).toBeGreaterThan(0)
    })
  })
})

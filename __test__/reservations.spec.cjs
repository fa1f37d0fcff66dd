// Reservations (spend known only after the call) on both backends, and through PgBouncer in
// transaction mode (see scripts/test.sh): reserveUsageAndGetApiKey places a hold instead of
// counting, settleUsage charges the actual amount, releaseUsage drops the hold, and a hold
// stops counting at its expiresAt (a holder killed with SIGKILL pins nothing for ever).
// Exactness under concurrency (one process, and 4 processes), holds against increments and
// increments against holds, budget events, day rollover, requestId, and bad input.
'use strict'
const path = require('node:path')
const { coded } = require('./support/errors.cjs')
const { PsPrivateAccessStore: S } = require('..')
const { BACKENDS, generateKeys, childEnv, startWorker, runTogether, parseReport } = require('../tools/harness/index.cjs')

const keys = generateKeys()
const CHILD_ENV = childEnv(keys)
const config = ({ perDay = null, petMonth = null, total = null } = {}, thresholds = { daily: 0.5, monthly: 0.9 }) => ({
  maxBudget: { perDay, petMonth, total },
  emailNotificationBudgetThresholds: thresholds,
})
const DAY_MS = 24 * 3600 * 1000
const TEN_MINUTES = 600000
const HAMMER = path.join(__dirname, 'support/reserve-hammer.cjs')
const NEVER_ISSUED = 'rsv_' + '0'.repeat(32)
const NOT_FOUND = coded(
  'PSPAS_RESERVATION_NOT_FOUND',
  'no reservation with this reservationId (never issued by this store, or pruned after the request retention window); nothing was charged',
)
const invalid = (message) => coded('PSPAS_INVALID_ARGUMENT', message)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** A worker's report as soon as it prints it (the worker may go on running). */
function reportOf(worker) {
  return new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      const report = parseReport(worker.output())
      if (report !== null) {
        clearInterval(poll)
        resolve(report)
      }
    }, 10)
    worker.exited.then(({ code, signal, err }) => {
      clearInterval(poll)
      const report = parseReport(worker.output())
      if (report !== null) resolve(report)
      else reject(new Error(`child exited (${code ?? signal}) before reporting: ${err}`))
    })
  })
}

describe.each(BACKENDS)('reservations on %s', (_name, fresh) => {
  let db
  let seq = 0
  const group = () => 3000 + ++seq
  const add = (groupId, plaintext, configuration = config(), aiModelId = 3) => {
    const sealed = S.encryptApiKey(plaintext)
    return S.addPreEncryptedKey(groupId, 1, aiModelId, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, configuration)
  }
  const events = []
  const eventsOf = () => events.map((e) => [e.kind, e.keyId, e.used, e.limit])
  let off

  // The harness's own view of the tables (direct, never through the pooler): `?` placeholders
  // on both backends, rows as arrays.
  const sql = async (text, params = []) => {
    let n = 0
    const { rows } = await db.query(db.kind === 'postgres' ? text.replace(/\?/g, () => `$${++n}`) : text, params)
    return rows.map((r) => (Array.isArray(r) ? r : Object.values(r)))
  }
  const storedUsage = async (id) => {
    const [[usage]] = await sql('SELECT usage FROM ps_private_access_store WHERE id = ?', [id])
    return typeof usage === 'string' ? JSON.parse(usage) : usage
  }
  const writeUsage = (id, usage) =>
    sql(`UPDATE ps_private_access_store SET usage = ${db.kind === 'postgres' ? '?::jsonb' : '?'} WHERE id = ?`, [JSON.stringify(usage), id])
  /** The group's reservations: [reservation_id, key_id, request_id, amount, state, charged, overrun]. */
  const holdRows = (groupId) =>
    sql('SELECT reservation_id, key_id, request_id, amount, state, charged, overrun FROM ps_private_access_holds WHERE group_id = ? ORDER BY created_at, reservation_id', [groupId])
  const heldIds = async (id) => Object.keys((await storedUsage(id)).holds ?? {}).sort()
  /** The day's budget of a key: committed use, live holds, what is left. */
  const daily = async (id) => {
    const { used, reserved, remaining } = (await S.getBudgetStatus(id)).daily
    return { used, reserved, remaining }
  }
  const unused = { dailyUse: 0, monthlyUse: 0, totalUse: 0 }
  const used = (n) => ({ dailyUse: n, monthlyUse: n, totalUse: n })
  const hammer = (groupId, calls, estimate, expectedKey) => startWorker(HAMMER, ['burst', db.url, groupId, calls, estimate, expectedKey], { env: CHILD_ENV })

  // Set up as a PolicySynth suite does: the variables assigned on this file's process.env.
  beforeAll(async () => {
    db = await fresh('reservations')
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

  describe('reserveUsageAndGetApiKey', () => {
    test('returns the reservation: an rsv_ id, the key decrypted, the estimate, and expiresAt (a Date) 10 minutes ahead by default', async () => {
      const g = group()
      const k = await add(g, 'sk-reserve')
      const before = Date.now()
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 2.5 })
      const after = Date.now()
      expect(r).toEqual({ reservationId: expect.stringMatching(/^rsv_[0-9a-f]{32}$/), keyId: k.id, apiKey: 'sk-reserve', amount: 2.5, expiresAt: expect.any(Date) })
      expect(r.expiresAt).toBeInstanceOf(Date)
      expect(r.expiresAt.getTime()).toBeGreaterThanOrEqual(before + TEN_MINUTES)
      expect(r.expiresAt.getTime()).toBeLessThanOrEqual(after + TEN_MINUTES)
      // ttlMs sets it; every reserve has its own id.
      const t0 = Date.now()
      const short = await S.reserveUsageAndGetApiKey(g, { estimate: 1, ttlMs: 45000 })
      const t1 = Date.now()
      expect(short.expiresAt).toBeInstanceOf(Date)
      expect(short.expiresAt.getTime()).toBeGreaterThanOrEqual(t0 + 45000)
      expect(short.expiresAt.getTime()).toBeLessThanOrEqual(t1 + 45000)
      expect(short.reservationId).not.toBe(r.reservationId)
    })

    test('a hold is not use: the counters stay, the status shows it as reserved in every period, usage.holds and the holds table record it', async () => {
      const g = group()
      const k = await add(g, 'sk-hold', config({ perDay: 10, petMonth: 100, total: 1000 }))
      events.length = 0
      // 6 of 10 is past the daily threshold (0.5): a hold fires no threshold event.
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 6 })
      expect(r.keyId).toBe(k.id)
      expect(events).toEqual([])
      expect(await S.getUsage(k.id)).toEqual(unused)
      const s = await S.getBudgetStatus(k.id)
      expect([s.daily, s.monthly, s.total].map((p) => [p.used, p.reserved, p.limit, p.remaining])).toEqual([
        [0, 6, 10, 4],
        [0, 6, 100, 94],
        [0, 6, 1000, 994],
      ])
      expect(s.unreadable).toEqual([])
      expect((await storedUsage(k.id)).holds).toEqual({ [r.reservationId]: { amount: 6, expiresAt: r.expiresAt.getTime() } })
      expect(await holdRows(g)).toEqual([[r.reservationId, k.id, null, '6', 'held', null, null]])
    })

    test('admits the first active matching key with room for use + holds + estimate, in id order; null when none has room, with no event', async () => {
      const g = group()
      const a = await add(g, 'sk-first', config({ perDay: 5 }))
      const inactive = await add(g, 'sk-inactive')
      expect(await S.setKeyStatus(inactive.id, false)).toBe(true)
      const otherModel = await add(g, 'sk-other-model', config(), 4)
      const b = await add(g, 'sk-second', config({ perDay: 5 }))
      events.length = 0
      const pick = async (estimate) => (await S.reserveUsageAndGetApiKey(g, { aiModelId: 3, estimate }))?.keyId ?? null
      expect(await pick(4)).toBe(a.id)
      expect(await pick(4)).toBe(b.id) // a has 1 left; the inactive key and the other model's are skipped
      expect(await pick(1)).toBe(a.id) // what fits the first key goes to it
      expect(await pick(2)).toBeNull() // a: 0 left, b: 1 left
      expect(await pick(0)).toBe(a.id) // an estimate of 0 always fits
      expect(events).toEqual([])
      expect(await daily(a.id)).toEqual({ used: 0, reserved: 5, remaining: 0 })
      expect(await daily(b.id)).toEqual({ used: 0, reserved: 4, remaining: 1 })
      expect((await S.reserveUsageAndGetApiKey(g, { aiModelId: 4, estimate: 100 })).keyId).toBe(otherModel.id)
      expect(await S.reserveUsageAndGetApiKey(group(), { estimate: 1 })).toBeNull() // a group without keys
      expect((await daily(inactive.id)).reserved).toBe(0)
    })

    test('the bounds are accepted: estimate 0 and 1e15, ttlMs 1 and 2592000000 (30 days)', async () => {
      const g = group()
      const k = await add(g, 'sk-bounds')
      const big = await S.reserveUsageAndGetApiKey(g, { estimate: 1e15, ttlMs: 2592000000 })
      expect(big).toMatchObject({ keyId: k.id, amount: 1e15 })
      expect(big.expiresAt.getTime()).toBeGreaterThanOrEqual(Date.now() + 2592000000 - 60000)
      const zero = await S.reserveUsageAndGetApiKey(g, { estimate: 0, ttlMs: 1 })
      expect(zero).toMatchObject({ keyId: k.id, amount: 0 })
      expect(zero.expiresAt).toBeInstanceOf(Date)
      expect((await daily(k.id)).reserved).toBe(1e15)
      expect(await S.releaseUsage(big.reservationId)).toBe(true)
    })

    test('40 concurrent reserves in one process: exactly what fits is granted (perDay 10, estimate 1), nothing is counted, no event', async () => {
      const g = group()
      const k = await add(g, 'sk-burst', config({ perDay: 10 }))
      events.length = 0
      const results = await Promise.all(Array.from({ length: 40 }, () => S.reserveUsageAndGetApiKey(g, { estimate: 1 })))
      const granted = results.filter((r) => r !== null)
      expect(granted).toHaveLength(10)
      expect(granted.every((r) => r.keyId === k.id && r.apiKey === 'sk-burst' && r.amount === 1)).toBe(true)
      const ids = granted.map((r) => r.reservationId).sort()
      expect(new Set(ids).size).toBe(10)
      expect(await daily(k.id)).toEqual({ used: 0, reserved: 10, remaining: 0 })
      expect(await S.getUsage(k.id)).toEqual(unused)
      // Every granted reservation holds (none was lost to a concurrent write), and only those.
      expect(await heldIds(k.id)).toEqual(ids)
      expect((await holdRows(g)).map((r) => r[0]).sort()).toEqual(ids)
      expect(events).toEqual([])
    })

    test('4 processes firing 15 concurrent reserves each: exactly what fits is granted across them (perDay 50, estimate 2), then settled from here', async () => {
      const g = group()
      const k = await add(g, 'sk-four-processes', config({ perDay: 50, petMonth: 1000 }, { daily: 0.1, monthly: 0.01 }))
      const results = await runTogether(4, () => hammer(g, 15, 2, 'sk-four-processes'))
      expect(results.reduce((n, r) => n + r.granted, 0)).toBe(25)
      expect(results.reduce((n, r) => n + r.nulls, 0)).toBe(35)
      expect(results.map((r) => r.wrong)).toEqual([0, 0, 0, 0])
      // Holds fire no threshold; refusals caused only by holds fire no limit event.
      expect(results.flatMap((r) => r.events)).toEqual([])
      const reservations = results.flatMap((r) => r.reservations)
      expect(reservations.every((r) => r.keyId === k.id && r.amount === 2)).toBe(true)
      const ids = reservations.map((r) => r.reservationId).sort()
      expect(new Set(ids).size).toBe(25)
      expect(await daily(k.id)).toEqual({ used: 0, reserved: 50, remaining: 0 })
      expect(await S.getUsage(k.id)).toEqual(unused)
      expect(await heldIds(k.id)).toEqual(ids)
      expect((await holdRows(g)).map((r) => r[0]).sort()).toEqual(ids)
      // Another process settles what these made.
      const settled = await Promise.all(ids.map((id) => S.settleUsage(id, 2)))
      expect(settled.every((s) => s.charged === 2 && s.overrun === 0 && s.alreadySettled === false)).toBe(true)
      expect(await S.getUsage(k.id)).toEqual(used(50))
      expect(await daily(k.id)).toEqual({ used: 50, reserved: 0, remaining: 0 })
      expect(await heldIds(k.id)).toEqual([])
    })
  })

  describe('holds and increments', () => {
    test('an increment that fits the limit only without the holds is refused with no event; use counts against reserves too', async () => {
      const g = group()
      const k = await add(g, 'sk-mixed', config({ perDay: 10 }))
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 8 })
      events.length = 0
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 3 })).toBeNull()
      expect(events).toEqual([]) // refused by the hold alone: 0 + 3 is within the limit
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 2 })).toBe('sk-mixed')
      expect(await daily(k.id)).toEqual({ used: 2, reserved: 8, remaining: 0 })
      // The use counts against a reserve: 2 + 8 + 1 > 10.
      expect(await S.reserveUsageAndGetApiKey(g, { estimate: 1 })).toBeNull()
      expect(events).toEqual([])
      // Refused by its own amount (2 + 9 > 10): the limit event, once, with the use before it.
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 9 })).toBeNull()
      expect(eventsOf()).toEqual([['dailyLimit', k.id, 2, 10]])
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 9 })).toBeNull()
      expect(events).toHaveLength(1)
      // Released, the room is back.
      expect(await S.releaseUsage(r.reservationId)).toBe(true)
      events.length = 0
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 8 })).toBe('sk-mixed')
      expect(eventsOf()).toEqual([['dailyThreshold', k.id, 10, 10]])
      expect(await S.getUsage(k.id)).toEqual(used(10))
      expect(await daily(k.id)).toEqual({ used: 10, reserved: 0, remaining: 0 })
    })

    test('a key full of holds fails over to the next key, for reserves and increments, and fires no limit event', async () => {
      const g = group()
      const a = await add(g, 'sk-full-of-holds', config({ perDay: 4 }))
      const b = await add(g, 'sk-next', config({ perDay: 100 }))
      events.length = 0
      const ra = await S.reserveUsageAndGetApiKey(g, { estimate: 4 })
      expect(ra.keyId).toBe(a.id)
      const rb = await S.reserveUsageAndGetApiKey(g, { estimate: 1 })
      expect(rb).toMatchObject({ keyId: b.id, apiKey: 'sk-next' })
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 1 })).toBe('sk-next')
      expect(events).toEqual([])
      expect(await daily(a.id)).toEqual({ used: 0, reserved: 4, remaining: 0 })
      expect(await daily(b.id)).toEqual({ used: 1, reserved: 1, remaining: 98 })
      // Once the hold is use, the first key refuses on its use: now the limit event fires.
      expect(await S.settleUsage(ra.reservationId, 4)).toMatchObject({ charged: 4, overrun: 0 })
      events.length = 0
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 1 })).toBe('sk-next')
      expect(eventsOf()).toEqual([['dailyLimit', a.id, 4, 4]])
    })

    test('40 concurrent reserves and increments on one key admit exactly the limit, and lose no hold', async () => {
      const g = group()
      const k = await add(g, 'sk-race', config({ perDay: 30 }))
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? S.reserveUsageAndGetApiKey(g, { estimate: 1 }) : S.incrementUsageAndGetApiKey(g, { incrementAmount: 1 }))),
      )
      const reserved = results.filter((r, i) => i % 2 === 0 && r !== null)
      const incremented = results.filter((r, i) => i % 2 === 1 && r !== null)
      expect(incremented.every((r) => r === 'sk-race')).toBe(true)
      expect(reserved.length + incremented.length).toBe(30)
      expect(await daily(k.id)).toEqual({ used: incremented.length, reserved: reserved.length, remaining: 0 })
      expect(await heldIds(k.id)).toEqual(reserved.map((r) => r.reservationId).sort())
    })
  })

  describe('settleUsage', () => {
    test('charges the actual amount to every counter and removes the hold; within the estimate nothing overruns', async () => {
      const g = group()
      const k = await add(g, 'sk-settle', config({ perDay: 10, petMonth: 100 }))
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 5 })
      events.length = 0
      expect(await S.settleUsage(r.reservationId, 3)).toEqual({ reservationId: r.reservationId, keyId: k.id, charged: 3, overrun: 0, alreadySettled: false })
      expect(events).toEqual([])
      expect(await S.getUsage(k.id)).toEqual(used(3))
      expect(await daily(k.id)).toEqual({ used: 3, reserved: 0, remaining: 7 })
      expect((await S.getBudgetStatus(k.id)).monthly).toMatchObject({ used: 3, reserved: 0, remaining: 97 })
      expect((await storedUsage(k.id)).holds).toBeUndefined()
      expect(await holdRows(g)).toEqual([[r.reservationId, k.id, null, '5', 'settled', '3', '0']])
    })

    test('a settle whose charge crosses the threshold fires the threshold event, with the counter after the charge', async () => {
      const g = group()
      const k = await add(g, 'sk-threshold', config({ perDay: 10 }, { daily: 0.5 }))
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 4 })
      events.length = 0
      expect(await S.settleUsage(r.reservationId, 6)).toMatchObject({ charged: 6, overrun: 2, alreadySettled: false })
      expect(eventsOf()).toEqual([['dailyThreshold', k.id, 6, 10]])
      expect(events[0].periodStart).toBeInstanceOf(Date)
      expect(await daily(k.id)).toEqual({ used: 6, reserved: 0, remaining: 4 })
    })

    test('above the estimate and over the limit: charged in full with the overrun, remaining 0, the limit event once', async () => {
      const g = group()
      const k = await add(g, 'sk-overrun', config({ perDay: 10 }, { daily: 0.5 }))
      const r1 = await S.reserveUsageAndGetApiKey(g, { estimate: 4 })
      const r2 = await S.reserveUsageAndGetApiKey(g, { estimate: 2 })
      events.length = 0
      expect(await S.settleUsage(r1.reservationId, 12)).toEqual({ reservationId: r1.reservationId, keyId: k.id, charged: 12, overrun: 8, alreadySettled: false })
      expect(eventsOf()).toEqual([
        ['dailyThreshold', k.id, 12, 10],
        ['dailyLimit', k.id, 12, 10],
      ])
      expect(await S.getUsage(k.id)).toEqual(used(12))
      expect(await daily(k.id)).toEqual({ used: 12, reserved: 2, remaining: 0 })
      events.length = 0
      // The day's limit event has fired: neither another settle over it nor a refusal repeats it.
      expect(await S.settleUsage(r2.reservationId, 1)).toMatchObject({ charged: 1, overrun: 0, alreadySettled: false })
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 1 })).toBeNull()
      expect(await S.reserveUsageAndGetApiKey(g, { estimate: 0 })).toBeNull()
      expect(events).toEqual([])
      expect(await S.getUsage(k.id)).toEqual(used(13))
      expect(await daily(k.id)).toEqual({ used: 13, reserved: 0, remaining: 0 })
    })

    test('a second settle charges nothing and returns the first result, whatever amount it names', async () => {
      const g = group()
      const k = await add(g, 'sk-twice', config({ perDay: 10 }))
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 3 })
      const first = await S.settleUsage(r.reservationId, 2)
      expect(first).toEqual({ reservationId: r.reservationId, keyId: k.id, charged: 2, overrun: 0, alreadySettled: false })
      events.length = 0
      for (const amount of [2, 2, 50]) {
        expect(await S.settleUsage(r.reservationId, amount)).toEqual({ ...first, alreadySettled: true })
      }
      expect(events).toEqual([])
      expect(await S.getUsage(k.id)).toEqual(used(2))
      expect((await holdRows(g)).map((row) => row.slice(4))).toEqual([['settled', '2', '0']])
    })

    test('8 concurrent settles of one reservation charge once: exactly one is not alreadySettled', async () => {
      const g = group()
      const k = await add(g, 'sk-concurrent-settle', config({ perDay: 10 }))
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 3 })
      const results = await Promise.all(Array.from({ length: 8 }, () => S.settleUsage(r.reservationId, 4)))
      expect(results.filter((s) => !s.alreadySettled)).toHaveLength(1)
      for (const s of results) expect(s).toEqual({ reservationId: r.reservationId, keyId: k.id, charged: 4, overrun: 1, alreadySettled: expect.any(Boolean) })
      expect(await S.getUsage(k.id)).toEqual(used(4))
      expect(await daily(k.id)).toEqual({ used: 4, reserved: 0, remaining: 6 })
    })

    test('an id never issued rejects with PSPAS_RESERVATION_NOT_FOUND and writes nothing', async () => {
      const g = group()
      const k = await add(g, 'sk-unknown', config({ perDay: 10 }))
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 2 })
      const status = await S.getBudgetStatus(k.id)
      const rows = await holdRows(g)
      for (const id of [NEVER_ISSUED, 'x'.repeat(64), 'é'.repeat(64), r.reservationId.toUpperCase()]) {
        await expect(S.settleUsage(id, 1)).rejects.toThrow(NOT_FOUND)
      }
      expect(await S.getBudgetStatus(k.id)).toEqual(status)
      expect(await holdRows(g)).toEqual(rows)
      expect(await S.getUsage(k.id)).toEqual(unused)
      expect(await sql('SELECT count(*) FROM ps_private_access_holds WHERE reservation_id = ?', [NEVER_ISSUED])).toEqual([[db.kind === 'postgres' ? '0' : 0]])
    })

    test('a listener that throws on a settle\'s event is reported with process.emitWarning; the settle still resolves', async () => {
      const warning = jest.spyOn(process, 'emitWarning').mockImplementation(() => {})
      const offThrower = S.onBudgetEvent(() => {
        throw new Error('listener bug')
      })
      try {
        const g = group()
        const k = await add(g, 'sk-listener', config({ perDay: 10 }, { daily: 0.5 }))
        const r = await S.reserveUsageAndGetApiKey(g, { estimate: 1 })
        events.length = 0
        expect(await S.settleUsage(r.reservationId, 5)).toMatchObject({ charged: 5, alreadySettled: false })
        expect(eventsOf()).toEqual([['dailyThreshold', k.id, 5, 10]])
        expect(warning).toHaveBeenCalledTimes(1)
        expect(warning.mock.calls[0][0]).toBe('A budget event listener threw: listener bug')
        expect(warning.mock.calls[0][1]).toMatchObject({ code: 'PSPAS_LISTENER_ERROR' })
      } finally {
        offThrower()
        warning.mockRestore()
      }
    })
  })

  describe('releaseUsage', () => {
    test('true, then false: the hold is dropped, nothing is charged, and the room is free again', async () => {
      const g = group()
      const k = await add(g, 'sk-release', config({ perDay: 5 }))
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 5 })
      expect(await S.reserveUsageAndGetApiKey(g, { estimate: 1 })).toBeNull()
      events.length = 0
      expect(await S.releaseUsage(r.reservationId)).toBe(true)
      expect(await S.releaseUsage(r.reservationId)).toBe(false)
      expect(events).toEqual([])
      expect(await S.getUsage(k.id)).toEqual(unused)
      expect(await daily(k.id)).toEqual({ used: 0, reserved: 0, remaining: 5 })
      expect(await heldIds(k.id)).toEqual([])
      expect(await holdRows(g)).toEqual([[r.reservationId, k.id, null, '5', 'released', null, null]])
      expect((await S.reserveUsageAndGetApiKey(g, { estimate: 5 })).keyId).toBe(k.id)
    })

    test('false after a settle, and for an id never issued (writing nothing)', async () => {
      const g = group()
      const k = await add(g, 'sk-release-false', config({ perDay: 10 }))
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 2 })
      expect(await S.settleUsage(r.reservationId, 1)).toMatchObject({ alreadySettled: false })
      expect(await S.releaseUsage(r.reservationId)).toBe(false)
      expect(await S.settleUsage(r.reservationId, 1)).toMatchObject({ charged: 1, alreadySettled: true })
      const rows = await holdRows(g)
      expect(await S.releaseUsage(NEVER_ISSUED)).toBe(false)
      expect(await S.releaseUsage('x'.repeat(64))).toBe(false)
      expect(await holdRows(g)).toEqual(rows)
      expect(await S.getUsage(k.id)).toEqual(used(1))
    })

    test('a released reservation can still be settled: the spend happened, and it is charged', async () => {
      const g = group()
      const k = await add(g, 'sk-release-then-settle', config({ perDay: 10 }))
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 4 })
      expect(await S.releaseUsage(r.reservationId)).toBe(true)
      expect(await S.settleUsage(r.reservationId, 3)).toEqual({ reservationId: r.reservationId, keyId: k.id, charged: 3, overrun: 0, alreadySettled: false })
      expect(await S.getUsage(k.id)).toEqual(used(3))
      expect(await daily(k.id)).toEqual({ used: 3, reserved: 0, remaining: 7 })
      expect(await S.releaseUsage(r.reservationId)).toBe(false)
      expect((await holdRows(g)).map((row) => row.slice(4))).toEqual([['settled', '3', '0']])
    })

    test('a settle racing a release charges exactly once, whichever wins', async () => {
      const g = group()
      const k = await add(g, 'sk-settle-release-race', config({ perDay: 100 }))
      for (let i = 0; i < 6; i++) {
        const r = await S.reserveUsageAndGetApiKey(g, { estimate: 1 })
        const [settled, released] = await Promise.all([S.settleUsage(r.reservationId, 2), S.releaseUsage(r.reservationId)])
        expect(settled).toEqual({ reservationId: r.reservationId, keyId: k.id, charged: 2, overrun: 1, alreadySettled: false })
        expect(typeof released).toBe('boolean')
      }
      expect(await S.getUsage(k.id)).toEqual(used(12))
      expect(await daily(k.id)).toEqual({ used: 12, reserved: 0, remaining: 88 })
      expect(new Set((await holdRows(g)).map((row) => row[4]))).toEqual(new Set(['settled']))
    })
  })

  describe('expiry', () => {
    test('a holder killed with SIGKILL pins the budget only until expiresAt; its reservation is settled later from here', async () => {
      const g = group()
      const k = await add(g, 'sk-crashed-holder', config({ perDay: 10 }))
      const worker = startWorker(HAMMER, ['hold', db.url, g, 10, 2000], { env: CHILD_ENV })
      const held = await reportOf(worker)
      worker.child.kill('SIGKILL')
      expect(await worker.exited).toMatchObject({ signal: 'SIGKILL' })
      expect(held).toEqual({ reservationId: expect.stringMatching(/^rsv_[0-9a-f]{32}$/), keyId: k.id, amount: 10, expiresAt: expect.any(Number) })
      events.length = 0
      // While the dead process's hold is live, it counts.
      expect(await daily(k.id)).toEqual({ used: 0, reserved: 10, remaining: 0 })
      expect(await S.reserveUsageAndGetApiKey(g, { estimate: 1 })).toBeNull()
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 1 })).toBeNull()
      expect(events).toEqual([])
      // Then it stops counting at expiresAt (and not before).
      let freed = null
      while (freed === null) {
        const status = await daily(k.id)
        const now = Date.now()
        if (status.reserved === 0) freed = { status, now }
        else if (now > held.expiresAt + 30000) throw new Error(`the hold still counts 30 s after its expiresAt: ${JSON.stringify(status)}`)
        else await sleep(50)
      }
      expect(freed.now).toBeGreaterThanOrEqual(held.expiresAt)
      expect(freed.status).toEqual({ used: 0, reserved: 0, remaining: 10 })
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 1 })).toBe('sk-crashed-holder')
      const again = await S.reserveUsageAndGetApiKey(g, { estimate: 9 })
      expect(again.keyId).toBe(k.id)
      expect(await S.releaseUsage(again.reservationId)).toBe(true)
      // The expired reservation is still settled: its spend is charged.
      expect(await S.settleUsage(held.reservationId, 7)).toEqual({ reservationId: held.reservationId, keyId: k.id, charged: 7, overrun: 0, alreadySettled: false })
      expect(await S.getUsage(k.id)).toEqual(used(8))
      expect(await daily(k.id)).toEqual({ used: 8, reserved: 0, remaining: 2 })
      expect(await S.settleUsage(held.reservationId, 7)).toMatchObject({ alreadySettled: true })
      expect(await S.getUsage(k.id)).toEqual(used(8))
    })
  })

  describe('day rollover', () => {
    test('a hold made on an earlier day (the last day of last month) still counts today; the settle charges into the new day and month', async () => {
      const g = group()
      const k = await add(g, 'sk-rollover', config({ perDay: 10, petMonth: 100 }))
      expect(await S.incrementUsageAndGetApiKey(g, { incrementAmount: 5 })).toBe('sk-rollover')
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 4 })
      const { daily: today, monthly: thisMonth } = await S.getBudgetStatus(k.id)
      const todayDay = today.periodStart.toISOString().slice(0, 10)
      const yesterday = new Date(thisMonth.periodStart.getTime() - DAY_MS).toISOString()
      // Move the key's bookkeeping to the last day of the previous month; keep the live hold.
      const usage = await storedUsage(k.id)
      expect(usage).toMatchObject({ periodDay: todayDay, holds: { [r.reservationId]: { amount: 4 } } })
      await writeUsage(k.id, { ...usage, dailyUse: 9, monthlyUse: 90, totalUse: 95, periodDay: yesterday.slice(0, 10), periodMonth: yesterday.slice(0, 7) })
      expect(await S.getUsage(k.id)).toEqual({ dailyUse: 0, monthlyUse: 0, totalUse: 95 })
      const s = await S.getBudgetStatus(k.id)
      expect([s.daily, s.monthly, s.total].map((p) => [p.used, p.reserved, p.remaining])).toEqual([
        [0, 4, 6],
        [0, 4, 96],
        [95, 4, null],
      ])
      // The hold counts against the new day: 0 + 4 + 7 > 10, 0 + 4 + 6 fits.
      expect(await S.reserveUsageAndGetApiKey(g, { estimate: 7 })).toBeNull()
      const fits = await S.reserveUsageAndGetApiKey(g, { estimate: 6 })
      expect(fits.keyId).toBe(k.id)
      expect(await S.releaseUsage(fits.reservationId)).toBe(true)
      expect(await S.settleUsage(r.reservationId, 3)).toMatchObject({ charged: 3, overrun: 0, alreadySettled: false })
      expect(await S.getUsage(k.id)).toEqual({ dailyUse: 3, monthlyUse: 3, totalUse: 98 })
      expect(await storedUsage(k.id)).toMatchObject({ dailyUse: 3, monthlyUse: 3, totalUse: 98, periodDay: todayDay, periodMonth: todayDay.slice(0, 7) })
      expect(await daily(k.id)).toEqual({ used: 3, reserved: 0, remaining: 7 })
    })
  })

  describe('requestId', () => {
    test('a sequential repeat returns the same reservation and holds nothing more; the id is scoped to its group', async () => {
      const g = group()
      const k = await add(g, 'sk-reserve-once', config({ perDay: 10 }))
      const first = await S.reserveUsageAndGetApiKey(g, { estimate: 3, requestId: 'job-1' })
      expect(first).toMatchObject({ keyId: k.id, apiKey: 'sk-reserve-once', amount: 3 })
      for (let i = 0; i < 3; i++) {
        const repeat = await S.reserveUsageAndGetApiKey(g, { estimate: 3, requestId: 'job-1' })
        expect(repeat).toEqual(first)
        expect(repeat.expiresAt).toBeInstanceOf(Date)
      }
      expect(await daily(k.id)).toEqual({ used: 0, reserved: 3, remaining: 7 })
      expect(await holdRows(g)).toEqual([[first.reservationId, k.id, 'job-1', '3', 'held', null, null]])
      // Another id holds; the same id in another group is another reservation.
      const second = await S.reserveUsageAndGetApiKey(g, { estimate: 3, requestId: 'job-2' })
      expect(second.reservationId).not.toBe(first.reservationId)
      const other = group()
      const k2 = await add(other, 'sk-other-group')
      const elsewhere = await S.reserveUsageAndGetApiKey(other, { estimate: 3, requestId: 'job-1' })
      expect(elsewhere).toMatchObject({ keyId: k2.id, apiKey: 'sk-other-group' })
      expect(elsewhere.reservationId).not.toBe(first.reservationId)
      expect((await daily(k.id)).reserved).toBe(6)
      // After the settle, a repeat is still that reservation: it holds and charges nothing.
      expect(await S.settleUsage(first.reservationId, 2)).toMatchObject({ charged: 2, alreadySettled: false })
      expect(await S.reserveUsageAndGetApiKey(g, { estimate: 3, requestId: 'job-1' })).toEqual(first)
      expect(await daily(k.id)).toEqual({ used: 2, reserved: 3, remaining: 5 })
      expect(await S.getUsage(k.id)).toEqual(used(2))
    })

    test('20 concurrent reserves with one requestId in one process hold once', async () => {
      const g = group()
      const k = await add(g, 'sk-reserve-burst', config({ perDay: 10 }))
      const results = await Promise.all(Array.from({ length: 20 }, () => S.reserveUsageAndGetApiKey(g, { estimate: 4, requestId: 'burst' })))
      expect(results[0]).toMatchObject({ keyId: k.id, amount: 4 })
      for (const r of results) expect(r).toEqual(results[0])
      expect(await daily(k.id)).toEqual({ used: 0, reserved: 4, remaining: 6 })
      expect(await heldIds(k.id)).toEqual([results[0].reservationId])
      expect(await holdRows(g)).toEqual([[results[0].reservationId, k.id, 'burst', '4', 'held', null, null]])
    })

    test('the same id with another estimate or filter rejects with PSPAS_IDEMPOTENCY_CONFLICT and holds nothing', async () => {
      const g = group()
      const k = await add(g, 'sk-reserve-conflict', config({ perDay: 10 }))
      const first = await S.reserveUsageAndGetApiKey(g, { estimate: 3, requestId: 'same' })
      const rows = await holdRows(g)
      const conflict = coded('PSPAS_IDEMPOTENCY_CONFLICT', 'requestId was already used in this group with a different estimate or filter; nothing was held')
      await expect(S.reserveUsageAndGetApiKey(g, { estimate: 4, requestId: 'same' })).rejects.toThrow(conflict)
      await expect(S.reserveUsageAndGetApiKey(g, { estimate: 3, aiModelId: 3, requestId: 'same' })).rejects.toThrow(conflict)
      await expect(S.reserveUsageAndGetApiKey(g, { estimate: 3, externalApiId: null, requestId: 'same' })).rejects.toThrow(conflict)
      expect(await holdRows(g)).toEqual(rows)
      expect(await daily(k.id)).toEqual({ used: 0, reserved: 3, remaining: 7 })
      expect(await heldIds(k.id)).toEqual([first.reservationId])
    })

    test('a reserve that found no room records nothing: a retry with the same id is decided afresh', async () => {
      const g = group()
      const k = await add(g, 'sk-no-room-yet', config({ perDay: 1 }))
      expect(await S.reserveUsageAndGetApiKey(g, { estimate: 5, requestId: 'too-big' })).toBeNull()
      expect(await holdRows(g)).toEqual([])
      expect(await S.setConfiguration(k.id, config({ perDay: 100 }))).toBe(true)
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 5, requestId: 'too-big' })
      expect(r).toMatchObject({ keyId: k.id, amount: 5 })
      expect(await daily(k.id)).toEqual({ used: 0, reserved: 5, remaining: 95 })
    })
  })

  describe('bad input', () => {
    const TTL = 'ttlMs must be a whole number of milliseconds from 1 to 2592000000 (30 days)'
    const REQUEST = 'requestId must be a non-empty string of at most 255 characters'
    const RESERVATION = 'reservationId must be a non-empty string of at most 64 characters'

    test('reserveUsageAndGetApiKey rejects with the exact code and message, and holds nothing', async () => {
      const g = group()
      const k = await add(g, 'sk-bad-reserve', config({ perDay: 10 }))
      const status = await S.getBudgetStatus(k.id)
      for (const [groupId, options, error] of [
        [g, undefined, invalid('estimate must be a number')],
        [g, {}, invalid('estimate must be a number')],
        [g, { estimate: '1' }, invalid('estimate must be a number')],
        [g, { estimate: null }, invalid('estimate must be a number')],
        [g, { estimate: -1 }, invalid('estimate must be a finite number >= 0')],
        [g, { estimate: NaN }, invalid('estimate must be a finite number >= 0')],
        [g, { estimate: Infinity }, invalid('estimate must be a finite number >= 0')],
        [g, { estimate: 1e16 }, coded('PSPAS_INVALID_AMOUNT', 'estimate must be at most 1e15 (the cap on one call\'s amount)')],
        [g, { estimate: 1e15 + 0.125 }, coded('PSPAS_INVALID_AMOUNT', 'estimate must be at most 1e15 (the cap on one call\'s amount)')],
        [g, { estimate: 1, ttlMs: 0 }, invalid(TTL)],
        [g, { estimate: 1, ttlMs: -1 }, invalid(TTL)],
        [g, { estimate: 1, ttlMs: 1.5 }, invalid(TTL)],
        [g, { estimate: 1, ttlMs: 2592000001 }, invalid(TTL)],
        [g, { estimate: 1, ttlMs: NaN }, invalid(TTL)],
        [g, { estimate: 1, ttlMs: Infinity }, invalid(TTL)],
        [g, { estimate: 1, ttlMs: '600' }, invalid('ttlMs must be a number')],
        [g, { estimate: 1, ttlMs: null }, invalid('ttlMs must be a number')],
        [g, { estimate: 1, requestId: '' }, invalid(REQUEST)],
        [g, { estimate: 1, requestId: 'x'.repeat(256) }, invalid(REQUEST)],
        [g, { estimate: 1, requestId: 42 }, invalid('requestId must be a string')],
        [g, { estimate: 1, requestId: null }, invalid('requestId must be a string')],
        [g, { estimate: 1, aiModelId: '3' }, invalid('aiModelId must be a number')],
        [g, 'nope', invalid('options must be an object')],
        [String(g), { estimate: 1 }, invalid('groupId must be a number')],
      ]) {
        await expect(S.reserveUsageAndGetApiKey(groupId, options)).rejects.toThrow(error)
      }
      expect(await S.getBudgetStatus(k.id)).toEqual(status)
      expect(await holdRows(g)).toEqual([])
      expect(await storedUsage(k.id)).toEqual(unused)
    })

    test('settleUsage rejects with the exact code and message, and charges nothing', async () => {
      const g = group()
      const k = await add(g, 'sk-bad-settle', config({ perDay: 10 }))
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 2 })
      const status = await S.getBudgetStatus(k.id)
      const rows = await holdRows(g)
      for (const [id, amount, error] of [
        ['', 1, invalid(RESERVATION)],
        ['x'.repeat(65), 1, invalid(RESERVATION)],
        [r.reservationId + 'x'.repeat(40), 1, invalid(RESERVATION)],
        [42, 1, invalid('reservationId must be a string')],
        [null, 1, invalid('reservationId must be a string')],
        [undefined, 1, invalid('reservationId must be a string')],
        [r.reservationId, undefined, invalid('actualAmount must be a number')],
        [r.reservationId, '1', invalid('actualAmount must be a number')],
        [r.reservationId, -1, invalid('actualAmount must be a finite number >= 0')],
        [r.reservationId, NaN, invalid('actualAmount must be a finite number >= 0')],
        [r.reservationId, Infinity, invalid('actualAmount must be a finite number >= 0')],
        [r.reservationId, 1e16, coded('PSPAS_INVALID_AMOUNT', 'actualAmount must be at most 1e15 (the cap on one call\'s amount)')],
      ]) {
        await expect(S.settleUsage(id, amount)).rejects.toThrow(error)
      }
      expect(await S.getBudgetStatus(k.id)).toEqual(status)
      expect(await holdRows(g)).toEqual(rows)
      expect(await S.getUsage(k.id)).toEqual(unused)
      // The reservation is untouched: it settles normally.
      expect(await S.settleUsage(r.reservationId, 1)).toMatchObject({ charged: 1, alreadySettled: false })
    })

    test('a settle on counters a hand edit made unreadable charges nothing, keeps the reservation held, and succeeds once the row is mended', async () => {
      const g = group()
      const k = await add(g, 'sk-unreadable', config({ perDay: 10 }))
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 2 })
      const good = await storedUsage(k.id)
      await writeUsage(k.id, { ...good, totalUse: 'lots' })
      const before = await storedUsage(k.id)
      await expect(S.settleUsage(r.reservationId, 3)).rejects.toThrow(
        coded('PSPAS_UNREADABLE_USAGE', `the usage counters of key ${k.id} cannot be read (see getBudgetStatus(id).unreadable); nothing was charged: mend the row, then settle again`),
      )
      expect(await storedUsage(k.id)).toEqual(before)
      expect((await holdRows(g)).map((row) => row[4])).toEqual(['held'])
      await writeUsage(k.id, good)
      expect(await S.settleUsage(r.reservationId, 3)).toMatchObject({ charged: 3, overrun: 1, alreadySettled: false })
      expect(await S.getUsage(k.id)).toEqual(used(3))
    })

    test('releaseUsage rejects with the exact code and message, and drops nothing', async () => {
      const g = group()
      const k = await add(g, 'sk-bad-release', config({ perDay: 10 }))
      const r = await S.reserveUsageAndGetApiKey(g, { estimate: 2 })
      for (const [id, error] of [
        ['', invalid(RESERVATION)],
        ['x'.repeat(65), invalid(RESERVATION)],
        [42, invalid('reservationId must be a string')],
        [undefined, invalid('reservationId must be a string')],
      ]) {
        await expect(S.releaseUsage(id)).rejects.toThrow(error)
      }
      expect(await daily(k.id)).toEqual({ used: 0, reserved: 2, remaining: 8 })
      expect((await holdRows(g)).map((row) => row[4])).toEqual(['held'])
      expect(await S.releaseUsage(r.reservationId)).toBe(true)
    })
  })
})

describe.each(BACKENDS)('the default time to live (PSPAS_RESERVATION_TTL_MS) on %s', (_name, fresh) => {
  test('sets expiresAt when ttlMs is left out; ttlMs overrides it', async () => {
    const db = await fresh('reservation-ttl')
    try {
      process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = keys.publicKey
      process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
      for (const v of db.envCleared) delete process.env[v]
      Object.assign(process.env, db.env, { PSPAS_RESERVATION_TTL_MS: '5000' })
      const sealed = S.encryptApiKey('sk-ttl')
      const k = await S.addPreEncryptedKey(9, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, config({ perDay: 10 }))
      for (const [options, ttl] of [
        [{ estimate: 1 }, 5000],
        [{ estimate: 1, ttlMs: 120000 }, 120000],
      ]) {
        const before = Date.now()
        const r = await S.reserveUsageAndGetApiKey(9, options)
        const after = Date.now()
        expect(r.keyId).toBe(k.id)
        expect(r.expiresAt).toBeInstanceOf(Date)
        expect(r.expiresAt.getTime()).toBeGreaterThanOrEqual(before + ttl)
        expect(r.expiresAt.getTime()).toBeLessThanOrEqual(after + ttl)
      }
    } finally {
      delete process.env.PSPAS_RESERVATION_TTL_MS
      await S.close()
      await db.drop()
    }
  })
})

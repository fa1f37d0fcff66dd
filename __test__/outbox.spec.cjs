// The durable budget event outbox on both backends, and through PgBouncer in transaction mode
// (see scripts/test.sh): every budget event is written to ps_private_access_events by the
// transaction that decides it, once per key, period and kind; any process claims, acks, and
// runs a notifier. Workers are real processes (support/outbox-worker.cjs); a crash is SIGKILL.
'use strict'
const path = require('node:path')
const { coded } = require('./support/errors.cjs')
const { PsPrivateAccessStore: S } = require('..')
const { BACKENDS, generateKeys, childEnv, startWorker, runTogether, parseReport } = require('../tools/harness/index.cjs')

const keys = generateKeys()
const CHILD_ENV = childEnv(keys)
const WORKER = path.join(__dirname, 'support/outbox-worker.cjs')
const config = ({ perDay = null, petMonth = null, total = null } = {}, thresholds = { daily: 0.5, monthly: 0.9 }) => ({
  maxBudget: { perDay, petMonth, total },
  emailNotificationBudgetThresholds: thresholds,
})
const invalid = (message) => coded('PSPAS_INVALID_ARGUMENT', message)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const DAY_MS = 24 * 3600 * 1000
const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10)

/** Resolves once `test(output)` holds for a worker's output (or rejects when it exits first). */
function waitFor(worker, test, what, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}: ${worker.output().slice(-500)}`)), timeoutMs)
    const poll = setInterval(() => {
      if (test(worker.output())) finish()
    }, 10)
    const finish = (err) => {
      clearTimeout(timer)
      clearInterval(poll)
      if (err) reject(err)
      else resolve()
    }
    worker.exited.then(({ code, signal, err }) => {
      if (test(worker.output())) finish()
      else finish(new Error(`worker exited (${code ?? signal}) before ${what}: ${err}`))
    })
  })
}
/** The `EVENT {json}` lines a notify worker printed. */
const handled = (worker) =>
  worker
    .output()
    .split('\n')
    .filter((l) => l.startsWith('EVENT '))
    .map((l) => JSON.parse(l.slice(6)))

describe.each(BACKENDS)('the budget event outbox on %s', (_name, fresh) => {
  let db
  let seq = 0
  const group = () => 5000 + ++seq
  const add = (groupId, plaintext, configuration = config()) => {
    const sealed = S.encryptApiKey(plaintext)
    return S.addPreEncryptedKey(groupId, 1, 3, undefined, sealed.encryptedApiKey, sealed.encryptedAesKey, configuration)
  }
  const listened = []
  let off

  // The harness's own view of the tables (direct, never through the pooler).
  const sql = async (text, params = []) => {
    let n = 0
    const { rows } = await db.query(db.kind === 'postgres' ? text.replace(/\?/g, () => `$${++n}`) : text, params)
    return rows.map((r) => (Array.isArray(r) ? r : Object.values(r)))
  }
  /** A key's outbox rows: [kind, period_key, state]. */
  const outboxOf = (keyId) => sql('SELECT kind, period_key, state FROM ps_private_access_events WHERE key_id = ? ORDER BY event_id', [keyId])
  /** Claim and ack whatever earlier tests left claimable, so a test sees only its own events. */
  const drain = async () => {
    for (;;) {
      const got = await S.claimBudgetEvents({ consumer: 'drain', limit: 1000 })
      if (got.length === 0) return
      await S.ackBudgetEvents(got.map((e) => e.eventId))
    }
  }
  const notifier = (consumer, { leaseMs = 30000, maxAttempts = 5, failKeyId = 0, handleMs = 0 } = {}) =>
    startWorker(WORKER, ['notify', db.url, consumer, leaseMs, maxAttempts, failKeyId, handleMs], { env: CHILD_ENV })
  const stop = async (worker) => {
    worker.child.stdin.write('stop\n')
    return worker.done
  }

  // Set up as a PolicySynth suite does: the variables assigned on this file's process.env.
  beforeAll(async () => {
    db = await fresh('outbox')
    process.env.RSA_API_ENCRYPTION_PUBLIC_KEY = keys.publicKey
    process.env.RSA_API_ENCRYPTION_PRIVATE_KEY = keys.privateKey
    for (const v of db.envCleared) delete process.env[v]
    Object.assign(process.env, db.env)
    off = S.onBudgetEvent((e) => listened.push(e))
  })
  beforeEach(async () => {
    await drain()
    listened.length = 0
  })
  afterAll(async () => {
    off()
    await S.close()
    await db.drop()
  })

  describe('claimBudgetEvents', () => {
    test('an event a call fired is in the outbox: the documented fields, eventId, attempts and createdAt (Dates), leased to the consumer', async () => {
      const g = group()
      const k = await add(g, 'sk-outbox', config({ perDay: 10 }))
      const before = Date.now()
      expect(await S.incrementUsageAndGetApiKey(g, { aiModelId: 3, incrementAmount: 6 })).toBe('sk-outbox')
      expect(listened.map((e) => [e.kind, e.keyId, e.used, e.limit])).toEqual([['dailyThreshold', k.id, 6, 10]])
      const [event, ...rest] = await S.claimBudgetEvents({ consumer: 'mailer' })
      expect(rest).toEqual([])
      expect(event).toEqual({
        ...listened[0],
        eventId: expect.stringMatching(/^[1-9][0-9]*$/),
        attempts: 1,
        createdAt: expect.any(Date),
      })
      expect(event.createdAt).toBeInstanceOf(Date)
      expect(event.periodStart).toBeInstanceOf(Date)
      expect(event.periodStart.getTime()).toBe(listened[0].periodStart.getTime())
      expect(Math.abs(event.createdAt.getTime() - before)).toBeLessThan(60000)
      // Leased: no other claim gets it; the operator's list shows who holds it until when.
      expect(await S.claimBudgetEvents({ consumer: 'other' })).toEqual([])
      const [shown] = await S.listBudgetEvents({ state: 'pending' })
      expect(shown).toMatchObject({ eventId: event.eventId, state: 'pending', consumer: 'mailer', attempts: 1, ackedAt: null })
      expect(shown.leasedUntil).toBeInstanceOf(Date)
      expect(shown.leasedUntil.getTime()).toBeGreaterThan(Date.now() + 20000)
      // Acked: done, once.
      expect(await S.ackBudgetEvents([event.eventId])).toBe(1)
      expect(await S.ackBudgetEvents([event.eventId])).toBe(0)
      expect(await outboxOf(k.id)).toEqual([['dailyThreshold', dayOf(Date.now()), 'acked']])
      const [acked] = await S.listBudgetEvents({ state: 'acked', limit: 1 })
      expect(acked.ackedAt).toBeInstanceOf(Date)
    })

    test('refusals and settles write their events too: the first refusal of a key, and the limit a settle goes over', async () => {
      const g = group()
      const spent = await add(g, 'sk-spent', config({ total: 1 }, {}))
      const next = await add(g, 'sk-next', config({ perDay: 10 }, {}))
      await sql(`UPDATE ps_private_access_store SET usage = ${db.kind === 'postgres' ? '?::jsonb' : '?'} WHERE id = ?`, [
        JSON.stringify({ dailyUse: 0, monthlyUse: 0, totalUse: 1 }),
        spent.id,
      ])
      const r = await S.reserveUsageAndGetApiKey(g, { aiModelId: 3, estimate: 2 })
      expect(r.keyId).toBe(next.id)
      await S.settleUsage(r.reservationId, 12)
      expect(listened.map((e) => [e.kind, e.keyId])).toEqual([
        ['totalLimit', spent.id],
        ['dailyLimit', next.id],
      ])
      const claimed = await S.claimBudgetEvents({ consumer: 'mailer', limit: 10 })
      expect(claimed.map((e) => [e.kind, e.keyId, e.used, e.limit])).toEqual(listened.map((e) => [e.kind, e.keyId, e.used, e.limit]))
      expect(await outboxOf(spent.id)).toEqual([['totalLimit', 'total', 'pending']])
      expect(claimed[0].periodStart).toBeNull()
    })

    test('bad input rejects with the exact error and claims or acks nothing', async () => {
      const g = group()
      const k = await add(g, 'sk-bad', config({ perDay: 10 }))
      await S.incrementUsageAndGetApiKey(g, { aiModelId: 3, incrementAmount: 6 })
      const bad = [
        [{ consumer: '' }, 'consumer must be a non-empty string of at most 255 characters'],
        [{ consumer: 'x'.repeat(256) }, 'consumer must be a non-empty string of at most 255 characters'],
        [{ consumer: 7 }, 'consumer must be a string'],
        [{ consumer: 'c', limit: 0 }, 'limit must be a whole number from 1 to 1000'],
        [{ consumer: 'c', limit: 1.5 }, 'limit must be a whole number from 1 to 1000'],
        [{ consumer: 'c', leaseMs: -1 }, 'leaseMs must be a whole number of milliseconds from 1 to 2592000000 (30 days)'],
        [{ consumer: 'c', maxAttempts: 1001 }, 'maxAttempts must be a whole number from 1 to 1000'],
      ]
      for (const [options, message] of bad) {
        await expect(S.claimBudgetEvents(options)).rejects.toEqual(invalid(message))
      }
      await expect(S.ackBudgetEvents('1')).rejects.toEqual(invalid('eventIds must be an array of strings'))
      for (const id of ['', '0', '-1', '1.5', 'abc', '99999999999999999999']) {
        await expect(S.ackBudgetEvents([id])).rejects.toEqual(
          invalid('eventId must be the decimal string of an event id (as claimBudgetEvents returns it)'),
        )
      }
      await expect(S.listBudgetEvents({ state: 'done' })).rejects.toEqual(invalid("state must be one of 'pending', 'parked', 'acked'"))
      // Nothing was claimed or acked.
      const [row] = await S.listBudgetEvents({ state: 'pending', limit: 1 })
      expect(row).toMatchObject({ keyId: k.id, attempts: 0, consumer: null, leasedUntil: null })
    })

    test('an unacked event is claimable again after its lease with attempts counted, parked after maxAttempts, shown, and retried', async () => {
      const g = group()
      const k = await add(g, 'sk-retry', config({ perDay: 10 }))
      await S.incrementUsageAndGetApiKey(g, { aiModelId: 3, incrementAmount: 6 })
      const claim = () => S.claimBudgetEvents({ consumer: 'flaky', leaseMs: 150, maxAttempts: 2 })
      const [first] = await claim()
      expect(first.attempts).toBe(1)
      expect(await claim()).toEqual([])
      await sleep(250)
      const [second] = await claim()
      expect([second.eventId, second.attempts]).toEqual([first.eventId, 2])
      await sleep(250)
      // Out of attempts: parked, not claimed, not pruned.
      expect(await claim()).toEqual([])
      const parked = await S.listBudgetEvents({ state: 'parked' })
      expect(parked.map((e) => [e.eventId, e.keyId, e.attempts, e.leasedUntil])).toEqual([[first.eventId, k.id, 2, null]])
      expect(await S.ackBudgetEvents([first.eventId])).toBe(0)
      // Retried by an operator: pending again with its attempts afresh.
      expect(await S.retryBudgetEvent(first.eventId)).toBe(true)
      expect(await S.retryBudgetEvent(first.eventId)).toBe(false)
      const [again] = await claim()
      expect([again.eventId, again.attempts]).toEqual([first.eventId, 1])
      expect(await S.ackBudgetEvents([again.eventId])).toBe(1)
    })
  })

  describe('retention', () => {
    test('acked events older than eventRetentionMs are pruned by a claim; pending and parked ones never are', async () => {
      const g = group()
      const acked = await add(g, 'sk-old-acked', config({ perDay: 10 }))
      const parked = await add(g * 10, 'sk-parked', config({ perDay: 10 }))
      const pending = await add(g * 10 + 1, 'sk-pending', config({ perDay: 10 }))
      await S.incrementUsageAndGetApiKey(g, { aiModelId: 3, incrementAmount: 6 })
      const [a] = await S.claimBudgetEvents({ consumer: 'retention' })
      expect(await S.ackBudgetEvents([a.eventId])).toBe(1)
      await S.incrementUsageAndGetApiKey(g * 10, { aiModelId: 3, incrementAmount: 6 })
      await S.claimBudgetEvents({ consumer: 'retention', leaseMs: 1, maxAttempts: 1 })
      await S.incrementUsageAndGetApiKey(g * 10 + 1, { aiModelId: 3, incrementAmount: 6 })
      await sleep(50)
      S.configure({ eventRetentionMs: 20 })
      try {
        // This claim parks the one out of attempts, prunes the old acked one, and leases the pending one.
        const got = await S.claimBudgetEvents({ consumer: 'retention', maxAttempts: 1 })
        expect(got.map((e) => e.keyId)).toEqual([pending.id])
        expect(await outboxOf(acked.id)).toEqual([])
        expect(await outboxOf(parked.id)).toEqual([['dailyThreshold', dayOf(Date.now()), 'parked']])
        expect(await outboxOf(pending.id)).toEqual([['dailyThreshold', dayOf(Date.now()), 'pending']])
        await S.ackBudgetEvents(got.map((e) => e.eventId))
        // Acked just now: kept until it is older than the retention.
        expect(await outboxOf(pending.id)).toEqual([['dailyThreshold', dayOf(Date.now()), 'acked']])
      } finally {
        S.configure()
      }
      await S.retryBudgetEvent((await S.listBudgetEvents({ state: 'parked' })).find((e) => e.keyId === parked.id).eventId)
    })
  })

  describe('startBudgetNotifier', () => {
    test('a worker crosses a threshold and is killed with SIGKILL right after the call returns; a notifier started afterwards in another process receives the event', async () => {
      const g = group()
      const k = await add(g, 'sk-crash', config({ perDay: 10 }))
      const worker = startWorker(WORKER, ['cross', db.url, g, 7], { env: CHILD_ENV })
      await waitFor(worker, (out) => parseReport(out) !== null, 'the worker call')
      worker.child.kill('SIGKILL')
      const { signal } = await worker.exited
      expect(signal).toBe('SIGKILL')
      const report = parseReport(worker.output())
      expect(report).toEqual({ apiKey: 'sk-crash', events: [{ keyId: k.id, kind: 'dailyThreshold' }] })
      // Nobody listened in that process any more; the outbox kept the event.
      const mailer = notifier('mailer-after-crash')
      await waitFor(mailer, (out) => handled({ output: () => out }).some((e) => e.keyId === k.id), 'the event')
      await stop(mailer)
      expect(handled(mailer).map((e) => [e.keyId, e.kind, e.attempts, e.consumer])).toEqual([[k.id, 'dailyThreshold', 1, 'mailer-after-crash']])
      expect(await outboxOf(k.id)).toEqual([['dailyThreshold', dayOf(Date.now()), 'acked']])
    })

    test('two notifier processes: every event handled, none by both at once; a throwing handler is retried after its lease and parked after maxAttempts', async () => {
      const g = group()
      const added = []
      for (let i = 0; i < 12; i++) added.push(await add(g * 100 + i, `sk-n${i}`, config({ perDay: 10 })))
      for (let i = 0; i < 12; i++) await S.incrementUsageAndGetApiKey(g * 100 + i, { aiModelId: 3, incrementAmount: 6 })
      const failing = added[5].id
      const leaseMs = 400
      const options = { leaseMs, maxAttempts: 3, failKeyId: failing, handleMs: 15 }
      const a = notifier('mailer-a', options)
      const b = notifier('mailer-b', options)
      const parkedOne = async () => (await S.listBudgetEvents({ state: 'parked' })).some((e) => e.keyId === failing)
      const deadline = Date.now() + 20000
      while (!(await parkedOne()) && Date.now() < deadline) await sleep(50)
      await Promise.all([stop(a), stop(b)])
      const all = [...handled(a), ...handled(b)]
      // Every event that succeeded: handled exactly once.
      const ok = all.filter((e) => e.keyId !== failing)
      expect(ok.map((e) => e.keyId).sort((x, y) => x - y)).toEqual(added.map((k) => k.id).filter((id) => id !== failing))
      expect(new Set(ok.map((e) => e.eventId)).size).toBe(11)
      // The failing one: attempts 1, 2, 3, one after another, each after the last lease ran out.
      const tries = all.filter((e) => e.keyId === failing).sort((x, y) => x.start - y.start)
      expect(tries.map((e) => e.attempts)).toEqual([1, 2, 3])
      for (let i = 1; i < tries.length; i++) {
        expect(tries[i].start).toBeGreaterThanOrEqual(tries[i - 1].end)
        expect(tries[i].start - tries[i - 1].start).toBeGreaterThanOrEqual(leaseMs - 50)
      }
      const states = (await S.listBudgetEvents({ limit: 1000 })).filter((e) => added.some((k) => k.id === e.keyId))
      expect(states.filter((e) => e.state === 'acked')).toHaveLength(11)
      expect(states.filter((e) => e.state === 'parked').map((e) => [e.keyId, e.attempts])).toEqual([[failing, 3]])
    })

    test('stop() finishes the event in hand, acks it, and resolves; bad options throw at once', async () => {
      const g = group()
      const k = await add(g, 'sk-stop', config({ perDay: 10 }))
      await S.incrementUsageAndGetApiKey(g, { aiModelId: 3, incrementAmount: 6 })
      let release
      const inHand = new Promise((r) => (release = r))
      const seen = []
      const n = S.startBudgetNotifier({
        consumer: 'in-process',
        pollMs: 10,
        handler: async (e) => {
          seen.push(e)
          await inHand
        },
      })
      while (seen.length === 0) await sleep(5)
      const stopped = n.stop()
      let done = false
      stopped.then(() => (done = true))
      await sleep(50)
      expect(done).toBe(false)
      release()
      await stopped
      expect(seen.map((e) => [e.keyId, e.kind])).toEqual([[k.id, 'dailyThreshold']])
      expect(seen[0]).toBeInstanceOf(Object)
      expect(seen[0].createdAt).toBeInstanceOf(Date)
      expect(await outboxOf(k.id)).toEqual([['dailyThreshold', dayOf(Date.now()), 'acked']])
      expect(() => S.startBudgetNotifier({})).toThrow(invalid('handler must be a function'))
      expect(() => S.startBudgetNotifier({ handler: () => {}, pollMs: 0 })).toThrow(invalid('pollMs must be a whole number of milliseconds from 1 to 3600000'))
    })

    test('a handler that throws is reported as a warning (PSPAS_NOTIFIER_ERROR) and the notifier goes on', async () => {
      const g = group()
      const k = await add(g, 'sk-warn', config({ perDay: 10 }))
      await S.incrementUsageAndGetApiKey(g, { aiModelId: 3, incrementAmount: 6 })
      const warning = jest.spyOn(process, 'emitWarning').mockImplementation(() => {})
      let calls = 0
      const n = S.startBudgetNotifier({
        consumer: 'warned',
        pollMs: 10,
        leaseMs: 100,
        handler: () => {
          calls++
          if (calls === 1) throw new Error('SMTP 451')
        },
      })
      const deadline = Date.now() + 10000
      while ((await outboxOf(k.id))[0][2] !== 'acked' && Date.now() < deadline) await sleep(20)
      await n.stop()
      const reported = warning.mock.calls.map(([message, options]) => [message, options.code, options.detail])
      warning.mockRestore()
      expect(calls).toBe(2)
      expect(reported).toEqual([
        ['The budget notifier warned failed: SMTP 451', 'PSPAS_NOTIFIER_ERROR', expect.stringMatching(/^event [0-9]+ \(dailyThreshold, key [0-9]+, attempt 1\)$/)],
      ])
      expect(await outboxOf(k.id)).toEqual([['dailyThreshold', dayOf(Date.now()), 'acked']])
    })
  })

  describe('exactly once', () => {
    test('4 processes crossing the same threshold at once create exactly one outbox row; the next period fires again', async () => {
      const g = group()
      const k = await add(g, 'sk-four', config({ perDay: 100 }))
      const burst = () => runTogether(4, () => startWorker(WORKER, ['burst', db.url, g, 20, 1], { env: CHILD_ENV }))
      const reports = await burst()
      expect(reports.map((r) => r.granted)).toEqual([20, 20, 20, 20])
      expect(reports.flatMap((r) => r.events)).toEqual([{ keyId: k.id, kind: 'dailyThreshold' }])
      const today = dayOf(Date.now())
      expect(await outboxOf(k.id)).toEqual([['dailyThreshold', today, 'pending']])
      // The next day (the day before is written back as the one the counter and the event
      // belong to): crossing again fires again, a second row.
      const yesterday = dayOf(Date.now() - DAY_MS)
      const usage = { dailyUse: 80, monthlyUse: 80, totalUse: 80, periodDay: yesterday, notified: { dailyThreshold: yesterday } }
      await sql(`UPDATE ps_private_access_store SET usage = ${db.kind === 'postgres' ? '?::jsonb' : '?'} WHERE id = ?`, [JSON.stringify(usage), k.id])
      await sql('UPDATE ps_private_access_events SET period_key = ? WHERE key_id = ?', [yesterday, k.id])
      const again = await burst()
      expect(again.flatMap((r) => r.events)).toEqual([{ keyId: k.id, kind: 'dailyThreshold' }])
      expect(await outboxOf(k.id)).toEqual([
        ['dailyThreshold', yesterday, 'pending'],
        ['dailyThreshold', today, 'pending'],
      ])
    })

    test('replaying a request (requestId, 4 processes) adds nothing; a new request that crosses adds one row', async () => {
      const g = group()
      const k = await add(g, 'sk-replay', config({ perDay: 10 }))
      const burst = (requestId) => runTogether(4, () => startWorker(WORKER, ['burst', db.url, g, 5, 4, requestId], { env: CHILD_ENV }))
      // 4 of 10 is below the threshold (5); counted twice it would cross.
      const replays = await burst('req-1')
      expect(replays.map((r) => r.granted)).toEqual([5, 5, 5, 5])
      expect((await S.getUsage(k.id)).dailyUse).toBe(4)
      expect(replays.flatMap((r) => r.events)).toEqual([])
      expect(await outboxOf(k.id)).toEqual([])
      const crossing = await burst('req-2')
      expect((await S.getUsage(k.id)).dailyUse).toBe(8)
      expect(crossing.flatMap((r) => r.events)).toEqual([{ keyId: k.id, kind: 'dailyThreshold' }])
      expect(await outboxOf(k.id)).toEqual([['dailyThreshold', dayOf(Date.now()), 'pending']])
    })
  })
})

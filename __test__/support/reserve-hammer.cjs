// Child process for the reservations spec, in one of two modes:
//   burst <databaseUrl> <groupId> <calls> <estimate> <expectedKey>
//     waits for the parent's go, fires `calls` concurrent reserves of `estimate` at one group,
//     listens for budget events, prints one JSON line {granted, nulls, wrong, reservations,
//     events} (reservations: [{reservationId, keyId, amount}]), exits.
//   hold <databaseUrl> <groupId> <estimate> <ttlMs>
//     reserves once at once, prints {reservationId, keyId, amount, expiresAt (epoch ms)} (or
//     {reservationId: null}), then stays up holding it until the parent kills it (kill -9).
'use strict'
const path = require('node:path')
const { PsPrivateAccessStore } = require(path.resolve(__dirname, '../..'))
const { waitForGo, writeReport } = require('../../tools/harness/workers.cjs')

async function burst(databaseUrl, groupId, calls, estimate, expectedKey) {
  PsPrivateAccessStore.configure({ databaseUrl, poolMax: 8, poolMin: 1 })
  const events = []
  PsPrivateAccessStore.onBudgetEvent((e) => events.push({ keyId: e.keyId, kind: e.kind }))
  await waitForGo()
  const results = await Promise.all(
    Array.from({ length: Number(calls) }, () => PsPrivateAccessStore.reserveUsageAndGetApiKey(Number(groupId), { aiModelId: 3, estimate: Number(estimate) })),
  )
  const granted = results.filter((r) => r !== null)
  await writeReport({
    granted: granted.length,
    nulls: results.length - granted.length,
    wrong: granted.filter((r) => r.apiKey !== expectedKey).length,
    reservations: granted.map((r) => ({ reservationId: r.reservationId, keyId: r.keyId, amount: r.amount })),
    events,
  })
  await PsPrivateAccessStore.close()
  process.stdin.destroy()
}

async function hold(databaseUrl, groupId, estimate, ttlMs) {
  PsPrivateAccessStore.configure({ databaseUrl, poolMax: 2, poolMin: 1 })
  const r = await PsPrivateAccessStore.reserveUsageAndGetApiKey(Number(groupId), { aiModelId: 3, estimate: Number(estimate), ttlMs: Number(ttlMs) })
  await writeReport(r === null ? { reservationId: null } : { reservationId: r.reservationId, keyId: r.keyId, amount: r.amount, expiresAt: r.expiresAt.getTime() })
  // Hold on (pool open, nothing settled or released) until killed.
  setInterval(() => {}, 60000)
}

async function main() {
  const [mode, ...args] = process.argv.slice(2)
  if (mode === 'burst') return burst(...args)
  if (mode === 'hold') return hold(...args)
  throw new Error(`unknown mode ${mode}`)
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack) + '\n')
  process.exit(1)
})

// Child process for the cross-key spec: runs a list of calls on many groups, `inFlight` at a
// time, and prints one JSON line summing up what it saw, then exits.
//   argv: <databaseUrl> <plan.json>
//   plan: { inFlight, poolMax, ops: [{ op: 'inc', g, amount, requestId? } |
//                                    { op: 'reserve', g, estimate, actual }] }
//   report: { served: {group: {apiKey: calls}}, nulls: {group: calls}, settled: {group: sum},
//             errors: {code: count}, events: [{keyId, kind}], crossKeyBatches }
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const { PsPrivateAccessStore } = require(path.resolve(__dirname, '../..'))
const { waitForGo, writeReport } = require('../../tools/harness/workers.cjs')

async function main() {
  const [databaseUrl, planFile] = process.argv.slice(2)
  const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'))
  PsPrivateAccessStore.configure({ databaseUrl, poolMax: plan.poolMax ?? 10, poolMin: 1 })
  const events = []
  PsPrivateAccessStore.onBudgetEvent((e) => events.push({ keyId: e.keyId, kind: e.kind }))
  const served = {}
  const nulls = {}
  const settled = {}
  const errors = {}
  const bump = (map, k, n = 1) => {
    map[k] = (map[k] ?? 0) + n
  }
  const one = async (o) => {
    try {
      if (o.op === 'inc') {
        const options = { aiModelId: 3, incrementAmount: o.amount, ...(o.requestId ? { requestId: o.requestId } : {}) }
        const key = await PsPrivateAccessStore.incrementUsageAndGetApiKey(o.g, options)
        if (key === null) bump(nulls, o.g)
        else bump((served[o.g] ??= {}), key)
      } else {
        const r = await PsPrivateAccessStore.reserveUsageAndGetApiKey(o.g, { aiModelId: 3, estimate: o.estimate })
        if (r === null) return bump(nulls, o.g)
        bump((served[o.g] ??= {}), r.apiKey)
        const s = await PsPrivateAccessStore.settleUsage(r.reservationId, o.actual)
        bump(settled, o.g, s.charged)
      }
    } catch (e) {
      bump(errors, (e && e.code) || String(e))
    }
  }
  await waitForGo()
  let next = 0
  const lane = async () => {
    while (next < plan.ops.length) await one(plan.ops[next++])
  }
  await Promise.all(Array.from({ length: plan.inFlight }, lane))
  const { crossKeyBatches } = PsPrivateAccessStore.getDiagnostics()
  await writeReport({ served, nulls, settled, errors, events, crossKeyBatches })
  await PsPrivateAccessStore.close()
  process.stdin.destroy()
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack) + '\n')
  process.exit(1)
})

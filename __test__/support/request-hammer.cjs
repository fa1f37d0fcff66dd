// Child process for the idempotency spec: sends every request id `r-0` … `r-<ids - 1>` to one
// group, all at once (each id `copies` times), listens for budget events, prints one JSON line
// {served, nulls, wrong, events}, exits.
'use strict'
const path = require('node:path')
const { PsPrivateAccessStore } = require(path.resolve(__dirname, '../..'))
const { waitForGo, writeReport } = require('../../tools/harness/workers.cjs')

async function main() {
  const [databaseUrl, groupId, ids, copies, amount, expectedKey] = process.argv.slice(2)
  PsPrivateAccessStore.configure({ databaseUrl, poolMax: 8, poolMin: 1 })
  const events = []
  PsPrivateAccessStore.onBudgetEvent((e) => events.push({ keyId: e.keyId, kind: e.kind }))
  await waitForGo()
  const calls = []
  for (let c = 0; c < Number(copies); c++) {
    for (let i = 0; i < Number(ids); i++) {
      calls.push(PsPrivateAccessStore.incrementUsageAndGetApiKey(Number(groupId), { aiModelId: 3, incrementAmount: Number(amount), requestId: `r-${i}` }))
    }
  }
  const results = await Promise.all(calls)
  const served = results.filter((r) => r !== null)
  await writeReport({ served: served.length, nulls: results.length - served.length, wrong: served.filter((r) => r !== expectedKey).length, events })
  await PsPrivateAccessStore.close()
  process.stdin.destroy()
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack) + '\n')
  process.exit(1)
})

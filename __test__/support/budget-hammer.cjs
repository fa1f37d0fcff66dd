// Child process for the budget spec: fires `calls` concurrent increments of `amount` at one
// group, listens for budget events, prints one JSON line {granted, nulls, events}, exits.
'use strict'
const path = require('node:path')
const { PsPrivateAccessStore } = require(path.resolve(__dirname, '../..'))
const { waitForGo, writeReport } = require('../../tools/harness/workers.cjs')

async function main() {
  const [databaseUrl, groupId, calls, expectedKey] = process.argv.slice(2)
  PsPrivateAccessStore.configure({ databaseUrl, poolMax: 8, poolMin: 1 })
  const events = []
  PsPrivateAccessStore.onBudgetEvent((e) => events.push({ keyId: e.keyId, kind: e.kind, used: e.used, limit: e.limit }))
  // Start together: wait for the parent's go signal on stdin.
  await waitForGo()
  const results = await Promise.all(
    Array.from({ length: Number(calls) }, () => PsPrivateAccessStore.incrementUsageAndGetApiKey(Number(groupId), { aiModelId: 3 })),
  )
  const granted = results.filter((r) => r !== null)
  if (granted.some((r) => r !== expectedKey)) throw new Error('served a wrong key')
  await writeReport({ granted: granted.length, nulls: results.length - granted.length, events })
  await PsPrivateAccessStore.close()
  process.stdin.destroy()
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack) + '\n')
  process.exit(1)
})

// Child process for the concurrency spec: waits for "go" on stdin, fires `calls` concurrent
// increments at one group per round (stopping after a round in which no call was served),
// checks each result, prints {served, nulls, lastServedStart} (the
// start time of the latest call that was served) and exits.
'use strict'
const path = require('node:path')
const { PsPrivateAccessStore } = require(path.resolve(__dirname, '../..'))
const { waitForGo, writeReport } = require('../../tools/harness/workers.cjs')

async function main() {
  const [databaseUrl, groupId, calls, expected, rounds = '1'] = process.argv.slice(2)
  PsPrivateAccessStore.configure({ databaseUrl, poolMax: 8, poolMin: 1 })
  await waitForGo()
  let served = 0
  let nulls = 0
  let lastServedStart = 0
  for (let r = 0; r < Number(rounds); r++) {
    const results = await Promise.all(
      Array.from({ length: Number(calls) }, () => {
        const startedAt = Date.now()
        return PsPrivateAccessStore.incrementUsageAndGetApiKey(Number(groupId), { aiModelId: 3 }).then((key) => ({ key, startedAt }))
      }),
    )
    if (results.every(({ key }) => key === null)) {
      nulls += results.length
      break // the key is gone for good: no need for the remaining rounds
    }
    for (const { key, startedAt } of results) {
      if (key === null) nulls++
      else if (key !== expected) throw new Error('served a wrong key')
      else {
        served++
        lastServedStart = Math.max(lastServedStart, startedAt)
      }
    }
  }
  await writeReport({ served, nulls, lastServedStart })
  await PsPrivateAccessStore.close()
  process.stdin.destroy()
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack) + '\n')
  process.exit(1)
})

// Child process for the outbox spec, in one of three modes:
//   cross <databaseUrl> <groupId> <amount>
//     one increment at once; prints {apiKey, events} (the events its in-process listener saw),
//     then stays up until the parent kills it (kill -9 right after the call returned).
//   burst <databaseUrl> <groupId> <calls> <amount> [requestId]
//     waits for the parent's go, fires `calls` concurrent increments (each with requestId when
//     given), prints {granted, events}, exits.
//   notify <databaseUrl> <consumer> <leaseMs> <maxAttempts> <failKeyId> <handleMs>
//     runs startBudgetNotifier (pollMs 20); its handler takes handleMs and throws for events
//     of key failKeyId (0: none). Each handled event is a line `EVENT {json}` with its start
//     and end times; "stop" on stdin stops the notifier, then it prints {stopped} and exits.
'use strict'
const path = require('node:path')
const { PsPrivateAccessStore: S } = require(path.resolve(__dirname, '../..'))
const { waitForGo, writeReport } = require('../../tools/harness/workers.cjs')

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function cross(databaseUrl, groupId, amount) {
  S.configure({ databaseUrl, poolMax: 2, poolMin: 1 })
  const events = []
  S.onBudgetEvent((e) => events.push({ keyId: e.keyId, kind: e.kind }))
  const apiKey = await S.incrementUsageAndGetApiKey(Number(groupId), { aiModelId: 3, incrementAmount: Number(amount) })
  await writeReport({ apiKey, events })
  setInterval(() => {}, 1000) // stays up: the parent kills it
}

async function burst(databaseUrl, groupId, calls, amount, requestId) {
  S.configure({ databaseUrl, poolMax: 8, poolMin: 1 })
  const events = []
  S.onBudgetEvent((e) => events.push({ keyId: e.keyId, kind: e.kind }))
  await waitForGo()
  const results = await Promise.all(
    Array.from({ length: Number(calls) }, () =>
      S.incrementUsageAndGetApiKey(Number(groupId), { aiModelId: 3, incrementAmount: Number(amount), ...(requestId ? { requestId } : {}) }),
    ),
  )
  await writeReport({ granted: results.filter((r) => r !== null).length, events })
  await S.close()
  process.stdin.destroy()
}

async function notify(databaseUrl, consumer, leaseMs, maxAttempts, failKeyId, handleMs) {
  S.configure({ databaseUrl, poolMax: 2, poolMin: 1 })
  const notifier = S.startBudgetNotifier({
    consumer,
    pollMs: 20,
    leaseMs: Number(leaseMs),
    maxAttempts: Number(maxAttempts),
    onError: () => {},
    handler: async (event) => {
      const start = Date.now()
      await sleep(Number(handleMs))
      const line = { eventId: event.eventId, keyId: event.keyId, kind: event.kind, attempts: event.attempts, consumer, start, end: Date.now() }
      process.stdout.write(`EVENT ${JSON.stringify(line)}\n`)
      if (event.keyId === Number(failKeyId)) throw new Error('mail server down')
    },
  })
  process.stdout.write('READY\n')
  process.stdin.on('data', async (d) => {
    if (!String(d).includes('stop')) return
    await notifier.stop()
    await writeReport({ stopped: consumer })
    await S.close()
    process.exit(0)
  })
}

const [mode, ...args] = process.argv.slice(2)
const run = { cross, burst, notify }[mode]
run(...args).catch((e) => {
  process.stderr.write(String(e && e.stack) + '\n')
  process.exit(1)
})

// One load process of the drills (faults.mjs, failover.mjs): `node load-worker.mjs <databaseUrl>
// <group> <seconds> <concurrency> <idempotent 0|1> <expectedKey> [groups]`. Keeps `concurrency`
// calls of incrementUsageAndGetApiKey in flight for `seconds`, lane i on group
// `group + i % groups` (groups: 1 by default); prints a '+' per key delivered
// (streamed, so a kill -9'ed worker's deliveries are still known), then its report as one
// JSON line: { okTimes, errTimes, errors (count by code), lastMessage (by code), unknownTimes
// (PSPAS_DB_OUTCOME_UNKNOWN), retries, unresolved, diagnostics (getDiagnostics() at the end) }.
// With idempotent = 1 every call carries a requestId and is sent again with it, as an
// application would, after PSPAS_DB_OUTCOME_UNKNOWN, PSPAS_DB_UNAVAILABLE or PSPAS_DB_ERROR,
// until it resolves (for up to 30 s after the run; then it counts as unresolved).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { writeReport } = require('../harness/index.cjs')
const { PsPrivateAccessStore: S } = require('../..')

const [databaseUrl, group, seconds, concurrency, idempotent, expected, groups = '1'] = process.argv.slice(2)
S.configure({ databaseUrl })
const end = Date.now() + Number(seconds) * 1000
const RESOLVE_MS = 30000
const RETRY = new Set(['PSPAS_DB_OUTCOME_UNKNOWN', 'PSPAS_DB_UNAVAILABLE', 'PSPAS_DB_ERROR'])
const report = { okTimes: [], errTimes: [], errors: {}, lastMessage: {}, unknownTimes: [], retries: 0, unresolved: 0 }
let seq = 0
await Promise.all(
  Array.from({ length: Number(concurrency) }, async (_, lane) => {
    const groupId = Number(group) + (lane % Number(groups))
    while (Date.now() < end) {
      const requestId = idempotent === '1' ? `${process.pid}-${seq++}` : undefined
      for (;;) {
        try {
          const key = await S.incrementUsageAndGetApiKey(groupId, { requestId })
          if (key !== expected) throw Object.assign(new Error('wrong key'), { code: 'WRONG_KEY' })
          report.okTimes.push(Date.now())
          process.stdout.write('+')
          break
        } catch (e) {
          report.errors[e.code] = (report.errors[e.code] || 0) + 1
          report.lastMessage[e.code] = e.message
          report.errTimes.push(Date.now())
          if (e.code === 'PSPAS_DB_OUTCOME_UNKNOWN') report.unknownTimes.push(Date.now())
          if (requestId === undefined || !RETRY.has(e.code)) break
          if (Date.now() > end + RESOLVE_MS) {
            report.unresolved++
            break
          }
          report.retries++
          await new Promise((r) => setTimeout(r, 50))
        }
      }
    }
  }),
)
report.diagnostics = S.getDiagnostics()
await S.close()
await writeReport(report) // on its own line, after the '+'s
process.exit(0)

// A load worker of the rotation drill (a child process with an IPC channel; its arguments:
// N keys, calls in flight). Configured by the environment only, like a deployment: keeps
// `inFlight` calls of incrementUsageAndGetApiKey(random group of N, { aiModelId }) going,
// checking every plaintext, until the parent sends 'stop'; says 'ready' after its first
// success, and sends its report ({ ok, okTimes, perGroup, errors, messages }) before exiting.
import { createRequire } from 'node:module'
import { ROOT, GROUP_BASE, plaintextOf, modelOf } from './common.mjs'

const require = createRequire(import.meta.url)

const [n, inFlight] = process.argv.slice(2)
const N = Number(n)
const seed = process.env.DRILL_SEED
const { PsPrivateAccessStore: S } = require(ROOT)
let stopping = false
process.on('message', (m) => {
  if (m === 'stop') stopping = true
})
const okTimes = []
const perGroup = {} // calls that incremented (resolved with a key), by group
const errors = {}
const messages = {}
let ok = 0
let ready = false
const fail = (code, message) => {
  errors[code] = (errors[code] || 0) + 1
  if (!(code in messages)) messages[code] = message
}
await Promise.all(
  Array.from({ length: Number(inFlight) }, async () => {
    while (!stopping) {
      const group = GROUP_BASE + Math.floor(Math.random() * N)
      try {
        const key = await S.incrementUsageAndGetApiKey(group, { aiModelId: modelOf(group) })
        if (key === null) {
          fail('NULL_KEY', `no key returned for group ${group}`)
          continue
        }
        perGroup[group] = (perGroup[group] || 0) + 1
        if (key !== plaintextOf(seed, group)) {
          fail('WRONG_KEY', `group ${group}: a different plaintext came back`)
          continue
        }
        ok++
        okTimes.push(Date.now())
        if (!ready) {
          ready = true
          process.send({ type: 'ready' })
        }
      } catch (e) {
        fail(e && e.code ? e.code : 'NO_CODE', e && e.message ? e.message : String(e))
      }
    }
  }),
)
await S.close()
process.send({ type: 'report', ok, okTimes, perGroup, errors, messages }, () => process.exit(0))
await new Promise(() => {})

// A/B of the hot path at 1 call in flight: this checkout's package against another build of
// the package (for example the previous release, or the commit before a change), side by
// side on one PostgreSQL database: each variant its own hot key, VACUUM before every run,
// variants interleaved run by run, medians.
//
//   node benches/entry-ab.mjs --previous /path/to/other/checkout [--seconds 4] [--runs 5]
//
// Each run is its own process, so the two addons never share one.
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { resolve } from 'node:path'

const require = createRequire(import.meta.url)
const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : dflt
}
const { freshPostgres, generateKeys, childEnv, storeSealedKeys, startWorker, writeReport } = require('../tools/harness/index.cjs')

if (args[0] === '--child') {
  const [, pkg, databaseUrl, group, seconds] = args
  const { PsPrivateAccessStore: S } = require(pkg)
  S.configure({ databaseUrl, poolMax: 10, poolMin: 10 })
  const options = { aiModelId: 1 }
  for (let i = 0; i < 200; i++) await S.incrementUsageAndGetApiKey(Number(group), options) // warm
  const lat = []
  const cpu0 = process.cpuUsage()
  const end = performance.now() + Number(seconds) * 1000
  while (performance.now() < end) {
    const t = performance.now()
    await S.incrementUsageAndGetApiKey(Number(group), options)
    lat.push(performance.now() - t)
  }
  const cpu = process.cpuUsage(cpu0)
  lat.sort((a, b) => a - b)
  const cpuPerCall = (cpu.user + cpu.system) / lat.length
  await writeReport({ calls: lat.length, p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.floor(lat.length * 0.99)], cpuPerCall })
  await S.close()
  process.exit(0)
}

const previous = opt('previous')
if (!previous) {
  console.error('usage: node benches/entry-ab.mjs --previous /path/to/other/checkout [--seconds 4] [--runs 5]')
  process.exit(2)
}
const seconds = Number(opt('seconds', 4))
const runs = Number(opt('runs', 5))
const keys = generateKeys()
const db = await freshPostgres('entry_ab', { name: `pspas_entry_ab_${process.pid}`, bouncerPort: null })
const databaseUrl = db.url
const variants = { current: { pkg: resolve(fileURLToPath(new URL('..', import.meta.url))), group: 1 }, previous: { pkg: resolve(previous), group: 2 } }
const env = childEnv(keys)
try {
  // The table, then one key per variant.
  const { PsPrivateAccessStore: S } = require(variants.current.pkg)
  const rows = Object.values(variants).map((v) => ({ groupId: v.group, aiModelId: 1, plaintext: `sk-${v.group}` }))
  await storeSealedKeys(S, { databaseUrl, keys, rows })
  const results = { current: [], previous: [] }
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? ['current', 'previous'] : ['previous', 'current']
    for (const k of order) {
      await db.vacuum()
      const child = startWorker(fileURLToPath(import.meta.url), ['--child', variants[k].pkg, databaseUrl, variants[k].group, seconds], { env, stdin: 'ignore', stderr: 'inherit' })
      results[k].push(await child.done)
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const row = (k) => ({ p50: median(results[k].map((x) => x.p50)), p99: median(results[k].map((x) => x.p99)), rate: median(results[k].map((x) => x.calls / seconds)), cpu: median(results[k].map((x) => x.cpuPerCall)) })
  const [c, p] = [row('current'), row('previous')]
  console.log(`hot key, 1 in flight, ${runs} runs x ${seconds} s, medians (PostgreSQL, pools of 10)`)
  console.log(`| package | calls/s | p50 ms | p99 ms | process CPU us/call |\n|---|---|---|---|---|`)
  console.log(`| current  | ${c.rate.toFixed(0)} | ${c.p50.toFixed(3)} | ${c.p99.toFixed(3)} | ${c.cpu.toFixed(1)} |`)
  console.log(`| previous | ${p.rate.toFixed(0)} | ${p.p50.toFixed(3)} | ${p.p99.toFixed(3)} | ${p.cpu.toFixed(1)} |`)
  console.log(`current / previous: p50 ${(c.p50 / p.p50).toFixed(3)}x, calls/s ${(c.rate / p.rate).toFixed(3)}x, CPU/call ${(c.cpu / p.cpu).toFixed(3)}x`)
  console.log('runs:', JSON.stringify(results))
} finally {
  await db.drop()
}

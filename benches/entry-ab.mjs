// A/B at 1 call in flight: this checkout's package against another build of the package (for
// example the previous release, or the commit before a change), side by side on one database:
// each variant its own group, VACUUM before every run, variants interleaved run by run (the
// order alternating), medians.
//
//   node benches/entry-ab.mjs --previous /path/to/other/checkout [--backend pg|sqlite]
//        [--scenario hot|failover] [--seconds 4] [--runs 5]
//
// Scenarios (every call `incrementUsageAndGetApiKey(group, { aiModelId: 1 })`, no requestId):
//   hot       one key, no budget: on PostgreSQL the lean statement alone (increment_lean.sql)
//   failover  two keys: the first's total budget (1) spent and its event already fired, the
//             second without a budget. On PostgreSQL every call runs the lean statement (which
//             declines the first key) and then the full statement (increment_budget.sql), which
//             refuses it and grants the second; on SQLite every call decides on both keys.
// PostgreSQL: VACUUM ANALYZE of the keys' table; SQLite (the file opened as the package opens
// it, WAL): VACUUM and wal_checkpoint(TRUNCATE). Each run is its own process, so the two
// addons never share one.
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
const { freshPostgres, freshSqlite, generateKeys, childEnv, storeSealedKeys, startWorker, writeReport } = require('../tools/harness/index.cjs')

if (args[0] === '--child') {
  const [, pkg, databaseUrl, group, seconds] = args
  const { PsPrivateAccessStore: S } = require(pkg)
  S.configure({ databaseUrl, poolMax: 10, poolMin: 10 })
  const options = { aiModelId: 1 }
  const expected = `sk-${group}-b` // the key every call of either scenario is granted
  for (let i = 0; i < 200; i++) {
    const key = await S.incrementUsageAndGetApiKey(Number(group), options) // warm
    if (key !== expected) throw new Error(`group ${group}: granted ${key}, expected ${expected}`)
  }
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
const backend = opt('backend', 'pg')
const scenario = opt('scenario', 'hot')
if (!previous || !['pg', 'sqlite'].includes(backend) || !['hot', 'failover'].includes(scenario)) {
  console.error('usage: node benches/entry-ab.mjs --previous /path/to/other/checkout [--backend pg|sqlite] [--scenario hot|failover] [--seconds 4] [--runs 5]')
  process.exit(2)
}
const seconds = Number(opt('seconds', 4))
const runs = Number(opt('runs', 5))
const keys = generateKeys()
const db = backend === 'pg' ? await freshPostgres('entry_ab', { name: `pspas_entry_ab_${process.pid}`, bouncerPort: null }) : await freshSqlite('entry-ab', { fileName: 'entry-ab.sqlite' })
const databaseUrl = db.url
const vacuum = backend === 'pg' ? db.vacuum : async () => {
  await db.query('VACUUM')
  await db.query('PRAGMA wal_checkpoint(TRUNCATE)')
}
const variants = { current: { pkg: resolve(fileURLToPath(new URL('..', import.meta.url))), group: 1 }, previous: { pkg: resolve(previous), group: 2 } }
const env = childEnv(keys)
try {
  // The tables (made by this checkout's package), then each variant's keys: in the failover
  // scenario a first key whose total budget of 1 is spent (two calls: the first counts 1, the
  // second is refused by it, firing its one total-limit event, and granted the second key).
  const { PsPrivateAccessStore: S } = require(variants.current.pkg)
  const spent = { maxBudget: { perDay: null, petMonth: null, total: 1 } }
  const rows = Object.values(variants).flatMap((v) => [
    ...(scenario === 'failover' ? [{ groupId: v.group, aiModelId: 1, plaintext: `sk-${v.group}-a`, configuration: spent }] : []),
    { groupId: v.group, aiModelId: 1, plaintext: `sk-${v.group}-b` },
  ])
  await storeSealedKeys(S, { databaseUrl, keys, rows })
  if (scenario === 'failover') {
    S.configure({ databaseUrl, publicKey: keys.publicKey, privateKey: keys.privateKey })
    for (const v of Object.values(variants)) {
      const got = []
      for (let i = 0; i < 3; i++) got.push(await S.incrementUsageAndGetApiKey(v.group, { aiModelId: 1 }))
      if (got.join() !== [`sk-${v.group}-a`, `sk-${v.group}-b`, `sk-${v.group}-b`].join()) throw new Error(`failover set-up of group ${v.group}: ${got}`)
    }
    await S.close()
  }
  const results = { current: [], previous: [] }
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? ['current', 'previous'] : ['previous', 'current']
    for (const k of order) {
      await vacuum()
      const child = startWorker(fileURLToPath(import.meta.url), ['--child', variants[k].pkg, databaseUrl, variants[k].group, seconds], { env, stdin: 'ignore', stderr: 'inherit' })
      results[k].push(await child.done)
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const row = (k) => ({ p50: median(results[k].map((x) => x.p50)), p99: median(results[k].map((x) => x.p99)), rate: median(results[k].map((x) => x.calls / seconds)), cpu: median(results[k].map((x) => x.cpuPerCall)) })
  const [c, p] = [row('current'), row('previous')]
  console.log(`${scenario === 'hot' ? 'hot key' : 'failover (spent first key)'}, 1 in flight, ${runs} runs x ${seconds} s, medians (${backend === 'pg' ? 'PostgreSQL' : 'SQLite'}, pools of 10)`)
  console.log(`| package | calls/s | p50 ms | p99 ms | process CPU us/call |\n|---|---|---|---|---|`)
  console.log(`| current  | ${c.rate.toFixed(0)} | ${c.p50.toFixed(3)} | ${c.p99.toFixed(3)} | ${c.cpu.toFixed(1)} |`)
  console.log(`| previous | ${p.rate.toFixed(0)} | ${p.p50.toFixed(3)} | ${p.p99.toFixed(3)} | ${p.cpu.toFixed(1)} |`)
  console.log(`current / previous: p50 ${(c.p50 / p.p50).toFixed(3)}x, calls/s ${(c.rate / p.rate).toFixed(3)}x, CPU/call ${(c.cpu / p.cpu).toFixed(3)}x`)
  // Per run, in run order: calls/s of current / previous (the pair run back to back).
  const pairs = results.current.map((x, i) => (x.calls / results.previous[i].calls).toFixed(3))
  console.log(`per-run calls/s current / previous: ${pairs.join(' ')}; median ${median(pairs.map(Number)).toFixed(3)}x`)
  console.log('runs:', JSON.stringify(results))
} finally {
  await db.drop()
}

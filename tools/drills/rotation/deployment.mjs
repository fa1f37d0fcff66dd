// The rotation drill's deployment: the OLD and NEW key pairs, the environment of every child
// (configured by the environment only, like a deployment), the load workers, and the clean-up
// run at the end or on SIGINT/SIGTERM (kills the children still running, drops the databases).
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KEY_CACHE, WORKERS, IN_FLIGHT, WORKER_NICE } from './options.mjs'

const require = createRequire(import.meta.url)
const { generateKeys, keyEnv, startProcess, killAll } = require('../../harness/index.cjs')
const WORKER = fileURLToPath(new URL('./worker.mjs', import.meta.url))

// ------------------------------------------------------------------ clean-up
export const cleanups = []
export async function cleanUp() {
  killAll()
  for (const f of cleanups.splice(0).reverse()) {
    try {
      await f()
    } catch (e) {
      process.stderr.write(`clean-up: ${e.message}\n`)
    }
  }
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    process.stderr.write(`\n${sig}: cleaning up\n`)
    await cleanUp()
    process.exit(130)
  })
}

// ------------------------------------------------------------------ keys and environments
export const OLD = generateKeys()
export const NEW = generateKeys()
export const SEED = randomBytes(16).toString('hex')
const keyDir = mkdtempSync(join(tmpdir(), 'pspas-rotation-drill-'))
cleanups.push(() => rmSync(keyDir, { recursive: true, force: true }))
export const NEW_PUBLIC_FILE = join(keyDir, 'new-public.pem')
writeFileSync(NEW_PUBLIC_FILE, NEW.publicKey, { mode: 0o600 })

/** The environment of a child: the caller's, without any store set-up, plus the given one. */
export function envFor(db, keys = {}) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(RSA_API_ENCRYPTION_|PSPAS_|DB_|PSQL_DB_|YP_DEV_DATABASE_)/.test(k)) continue
    if (['NODE_ENV', 'DATABASE_URL', 'DISABLE_PG_SSL', 'PGUSER'].includes(k)) continue
    env[k] = v
  }
  env.DATABASE_URL = db.url
  if (!KEY_CACHE) env.PSPAS_KEY_CACHE = 'false'
  Object.assign(env, keyEnv(keys))
  env.DRILL_SEED = SEED
  return env
}
/** Mid-rotation deployment: current = new, previous = old. */
export const rotatingEnv = (db) => envFor(db, { publicKey: NEW.publicKey, privateKey: NEW.privateKey, previous: OLD.privateKey })

// ------------------------------------------------------------------ load workers
/** WORKERS worker processes (rotation/worker.mjs) set up as a deployment mid-rotation, under nice. */
export function startWorkers(db, n) {
  const env = rotatingEnv(db)
  return Array.from({ length: WORKERS }, (_, i) => {
    const { child, exited } = startProcess(process.execPath, [WORKER, n, IN_FLIGHT], { env, stdout: 'inherit', stderr: 'inherit', ipc: true, nice: WORKER_NICE })
    let readyResolve
    const ready = new Promise((r) => (readyResolve = r))
    let report = null
    child.on('message', (m) => {
      if (m.type === 'ready') readyResolve(true)
      if (m.type === 'report') report = m
    })
    const exit = exited.then(({ code, signal }) => {
      readyResolve(false)
      return { code, signal }
    })
    return {
      i,
      ready,
      async stop() {
        if (child.connected) child.send('stop')
        return { exit: await exit, report }
      },
    }
  })
}

// The rotation drill's `rotate` and `verify`: the operator CLI (bin/ps-access-store.mjs
// rotate|verify --json) when it is there and works (--rotator auto), else (--rotator lib)
// rotation/lib-rotator.mjs calling rotateKeys() / verifyKeys(); each in its own process,
// configured by the environment only.
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { existsSync } from 'node:fs'
import { ROOT, BIN } from './common.mjs'
import { ROTATOR_WANTED, usage } from './options.mjs'
import { NEW_PUBLIC_FILE, envFor, rotatingEnv } from './deployment.mjs'

const require = createRequire(import.meta.url)
const { startProcess } = require('../../harness/workers.cjs')
const LIB_ROTATOR = fileURLToPath(new URL('./lib-rotator.mjs', import.meta.url))

/** Run a command in the package's folder; `exited` resolves on close with exit code/signal and the whole output. */
const run = (file, argv, env, { onStdout, onStderr } = {}) => startProcess(file, argv, { env, cwd: ROOT, onStdout, onStderr })

async function pickRotator() {
  if (ROTATOR_WANTED === 'lib') return { kind: 'lib', why: 'asked for (--rotator lib)' }
  let why
  if (!existsSync(BIN)) why = `${BIN} does not exist`
  else {
    const r = await run(process.execPath, [BIN, 'rotate', '--help'], envFor({ url: 'sqlite:/nonexistent' })).exited
    if (r.code !== 0) why = `\`ps-access-store rotate --help\` exited ${r.code}: ${r.err.trim().slice(0, 200)}`
    else if (!/--new-public-key/.test(r.out) || !/--json/.test(r.out)) why = '`ps-access-store rotate` has no --new-public-key / --json'
  }
  if (why === undefined) return { kind: 'cli', why: 'bin/ps-access-store.mjs rotate|verify --json' }
  if (ROTATOR_WANTED === 'cli') usage(`--rotator cli: ${why}`)
  return { kind: 'lib', why: `CLI not usable (${why}); library rotateKeys()/verifyKeys() in a child process` }
}
export let ROTATOR
/** Pick the rotator once, before the scenarios. */
export const chooseRotator = async () => (ROTATOR = await pickRotator())

/** Start `rotate`; `done` resolves with { exit, result, error, progress[] }. */
export function startRotate(db, batchSize) {
  const env = rotatingEnv(db)
  const progress = []
  const r =
    ROTATOR.kind === 'cli'
      ? run(process.execPath, [BIN, 'rotate', '--json', '--new-public-key', NEW_PUBLIC_FILE, '--batch-size', String(batchSize)], env, {
          onStderr: (s) => {
            for (const m of s.matchAll(/rotate: (\d+)\/(\d+) rows/g)) progress.push({ t: Date.now(), done: +m[1], total: +m[2] })
          },
        })
      : run(process.execPath, [LIB_ROTATOR, 'rotate', batchSize], env, {
          onStdout: (s) => {
            for (const m of s.matchAll(/"progress":\{"done":(\d+),"total":(\d+)\}/g)) progress.push({ t: Date.now(), done: +m[1], total: +m[2] })
          },
        })
  return {
    child: r.child,
    started: r.started,
    progress,
    done: r.exited.then((x) => ({ ...x, ...parseOutcome(x) })),
  }
}

/** `verify` in its own process with the given keys; resolves with { exit, result, error }. */
export async function runVerify(db, keys, batchSize) {
  const env = envFor(db, keys)
  const x =
    ROTATOR.kind === 'cli'
      ? await run(process.execPath, [BIN, 'verify', '--json', '--no-progress', '--batch-size', String(batchSize)], env).exited
      : await run(process.execPath, [LIB_ROTATOR, 'verify', batchSize], env).exited
  return { ...x, ...parseOutcome(x) }
}

function parseOutcome(x) {
  let result = null
  let error = null
  try {
    if (ROTATOR.kind === 'cli') {
      if (x.out.trim()) result = JSON.parse(x.out)
    } else {
      const line = x.out.split('\n').find((l) => l.startsWith('{"result"'))
      if (line) result = JSON.parse(line).result
    }
  } catch (e) {
    error = `unparsable output: ${e.message}`
  }
  const errLine = x.err.split('\n').find((l) => l.startsWith('{"error"'))
  if (errLine) {
    try {
      error = JSON.parse(errLine).error
    } catch {}
  }
  return { result, error }
}
